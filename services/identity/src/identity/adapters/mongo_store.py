"""Employees and org units in MongoDB; each write stores the new state and its events in one
document (the outbox rides inside it)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from chorus_kit.errors import Conflict, NotFound
from chorus_kit.events.identity import EmploymentStatus, RoleAssignment, SocialNetwork, UnitKind
from chorus_kit.mongo import DOCUMENT_LOCKS, is_duplicate_key, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields
from identity.domain.commands import EmployeeFilter
from identity.domain.model import Employee, ScheduledOffboarding
from identity.domain.org_units import OrgTree, OrgUnit


def _email_key(employee: Employee) -> str:
    # Unique among current staff, reusable after offboarding. The field is always present
    # (FerretDB has no partial indexes): leavers get a value nobody else can hold.
    if employee.status is EmploymentStatus.OFFBOARDED:
        return f"released:{employee.id}"
    return employee.email


class EmployeeStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["employees"]

    async def prepare(self) -> None:
        await self.collection.create_index(
            [("email_key", ASCENDING)], unique=True, name="email_unique_among_staff"
        )
        await self.collection.create_index([("unit_id", ASCENDING)], name="by_unit")
        await self.collection.create_index([("external_id", ASCENDING)], name="by_external_id")
        await self.collection.create_index([("offboard_due_at", ASCENDING)], name="offboard_due")
        await ensure_outbox_index(self.collection)

    async def find_by_email(self, email: str) -> Employee | None:
        """The current (not offboarded) employee with this work email, if any."""
        document = await self.collection.find_one({"email_key": email.lower()}, {"outbox": 0})
        return _employee(document) if document else None

    async def find_by_external_id(self, external_id: str) -> Employee | None:
        document = await self.collection.find_one(
            {"external_id": external_id, "status": {"$ne": EmploymentStatus.OFFBOARDED.value}},
            {"outbox": 0},
        )
        return _employee(document) if document else None

    async def count_in_unit(self, unit_id: str) -> int:
        """Current staff whose unit is `unit_id` (leavers do not keep a unit open)."""
        return await self.collection.count_documents(
            {"unit_id": unit_id, "status": {"$ne": EmploymentStatus.OFFBOARDED.value}}
        )

    async def due_offboardings(self, now: datetime, *, limit: int = 100) -> list[Employee]:
        """Employees whose scheduled offboarding time has come."""
        cursor = (
            self.collection.find({"offboard_due_at": {"$lte": now}}, {"outbox": 0})
            .sort("offboard_due_at", ASCENDING)
            .limit(limit)
        )
        return [_employee(d) for d in await cursor.to_list()]

    async def add(self, employee: Employee) -> None:
        document = {**_state(employee), **new_document_outbox(employee.pending_events)}
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError as exc:
            raise Conflict("an active employee already has this email", code="email_taken") from exc

    async def get(self, employee_id: str) -> Employee:
        document = await self.collection.find_one({"_id": employee_id}, {"outbox": 0})
        if document is None:
            raise NotFound(f"no employee {employee_id}", code="employee_not_found")
        return _employee(document)

    async def get_many(self, employee_ids: Sequence[str]) -> list[Employee]:
        found = await self.collection.find(
            {"_id": {"$in": list(employee_ids)}}, {"outbox": 0}
        ).to_list()
        return [_employee(d) for d in found]

    async def every_employee(self) -> list[Employee]:
        """The whole directory (one scan: the in-memory directory's load at start)."""
        return [_employee(d) for d in await self.collection.find({}, {"outbox": 0}).to_list()]

    async def reporting_to(self, manager_ids: Sequence[str]) -> list[Employee]:
        """Everyone whose direct manager is one of `manager_ids`, by id (one query)."""
        cursor = self.collection.find(
            {"manager_id": {"$in": list(manager_ids)}}, {"outbox": 0}
        ).sort("_id", ASCENDING)
        return [_employee(d) for d in await cursor.to_list()]

    async def search(
        self,
        criteria: EmployeeFilter,
        *,
        units: set[str] | None,
        also_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[Employee]:
        """Matching employees by id order, starting after `after` (keyset pagination)."""
        # `criteria.unit_id` arrives resolved into `units` (the unit's subtree) by the caller.
        query: dict[str, Any] = {}
        if criteria.status:
            query["status"] = criteria.status.value
        if criteria.manager_id:
            query["manager_id"] = criteria.manager_id
        if criteria.q:
            prefix = "^" + re.escape(criteria.q.lower())
            query["$or"] = [
                {"email": {"$regex": prefix}},
                {"family_name": {"$regex": prefix, "$options": "i"}},
            ]
        if units is not None:  # what the caller may see: their units, and themselves
            visible: list[dict[str, Any]] = [{"unit_id": {"$in": sorted(units)}}]
            if also_id:
                visible.append({"_id": also_id})
            query = {"$and": [query, {"$or": visible}]}
        if after:
            query = {"$and": [query, {"_id": {"$gt": after}}]}
        cursor = self.collection.find(query, {"outbox": 0}).sort("_id", ASCENDING).limit(limit)
        return [_employee(d) for d in await cursor.to_list()]

    async def save(self, employee: Employee, *, expected_sequence: int) -> None:
        """Store a change and its events if nobody changed the employee meanwhile."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), employee.id):
            try:
                result = await self.collection.update_one(
                    {"_id": employee.id, "sequence": expected_sequence},
                    {"$set": {**_state(employee), **outbox_fields(employee.pending_events)}},
                )
            except OperationFailure as exc:  # a rehire whose email is taken by now
                if not is_duplicate_key(exc):
                    raise
                raise Conflict(
                    "an active employee already has this email", code="email_taken"
                ) from exc
        if result.matched_count == 0:
            raise Conflict("the employee changed meanwhile; retry", code="concurrent_change")


def _state(employee: Employee) -> dict[str, Any]:
    scheduled = employee.scheduled_offboarding
    now = datetime.now(UTC)
    return {
        "_id": employee.id,
        "email": employee.email,
        "email_key": _email_key(employee),
        "given_name": employee.given_name,
        "family_name": employee.family_name,
        "title": employee.title,
        "location": employee.location,
        "social_handles": {network.value: handle for network, handle in employee.social_handles},
        "employee_number": employee.employee_number,
        "external_id": employee.external_id,
        "unit_id": employee.unit_id,
        "unit_path": list(employee.unit_path),
        "manager_id": employee.manager_id,
        "manager_chain": list(employee.manager_chain),
        "roles": [r.model_dump(mode="json") for r in employee.roles],
        "status": employee.status.value,
        "start_date": employee.start_date,
        "offboarded_at": employee.offboarded_at,
        "offboard_reason": employee.offboard_reason,
        "scheduled_offboarding": (
            {"at": scheduled.at, "reason": scheduled.reason} if scheduled else None
        ),
        # Top level and null when nothing is due, so the scheduler's index finds it.
        "offboard_due_at": scheduled.at if scheduled else None,
        "created_at": employee.created_at or now,
        "updated_at": now,
    }


def _employee(document: dict[str, Any]) -> Employee:
    scheduled = document.get("scheduled_offboarding")
    return Employee(
        id=document["_id"],
        email=document["email"],
        given_name=document["given_name"],
        family_name=document["family_name"],
        title=document.get("title"),
        location=document.get("location"),
        social_handles=tuple(
            sorted((SocialNetwork(k), v) for k, v in (document.get("social_handles") or {}).items())
        ),
        employee_number=document.get("employee_number"),
        external_id=document.get("external_id"),
        unit_id=document["unit_id"],
        unit_path=tuple(document.get("unit_path", ())),
        manager_id=document.get("manager_id"),
        manager_chain=tuple(document.get("manager_chain", ())),
        roles=tuple(RoleAssignment.model_validate(r) for r in document.get("roles", ())),
        status=EmploymentStatus(document["status"]),
        start_date=document["start_date"],
        sequence=int(document.get("sequence", 0)),
        offboarded_at=document.get("offboarded_at"),
        offboard_reason=document.get("offboard_reason"),
        scheduled_offboarding=(
            ScheduledOffboarding(at=scheduled["at"], reason=scheduled["reason"])
            if scheduled
            else None
        ),
        created_at=document.get("created_at"),
        updated_at=document.get("updated_at"),
    )


class OrgUnitStore:
    """Org units; the whole tree is small (hundreds of units) and read as one snapshot."""

    TREE_TTL_SECONDS = 2.0  # other replicas' unit changes show here within this time

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["org_units"]
        self._tree: OrgTree | None = None
        self._tree_read_at = 0.0

    async def prepare(self) -> None:
        await ensure_outbox_index(self.collection)

    async def tree(self) -> OrgTree:
        if self._tree is None or time.monotonic() - self._tree_read_at > self.TREE_TTL_SECONDS:
            documents = await self.collection.find({}, {"outbox": 0}).to_list()
            self._tree = OrgTree(_unit(d) for d in documents)
            self._tree_read_at = time.monotonic()
        return self._tree

    def forget_tree(self) -> None:
        self._tree = None

    async def add(self, unit: OrgUnit) -> None:
        document = {**_unit_state(unit), **new_document_outbox(unit.pending_events)}
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError as exc:
            raise Conflict(f"org unit {unit.id} exists already", code="unit_exists") from exc
        finally:
            self.forget_tree()

    async def save(self, unit: OrgUnit, *, expected_sequence: int) -> None:
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), unit.id):
            result = await self.collection.update_one(
                {"_id": unit.id, "sequence": expected_sequence},
                {"$set": {**_unit_state(unit), **outbox_fields(unit.pending_events)}},
            )
        self.forget_tree()
        if result.matched_count == 0:
            raise Conflict("the unit changed meanwhile; retry", code="concurrent_change")


def _unit_state(unit: OrgUnit) -> dict[str, Any]:
    return {
        "_id": unit.id,
        "name": unit.name,
        "kind": unit.kind.value,
        "parent_id": unit.parent_id,
        "status": unit.status,
        "updated_at": datetime.now(UTC),
    }


def _unit(document: dict[str, Any]) -> OrgUnit:
    return OrgUnit(
        id=document["_id"],
        name=document["name"],
        kind=UnitKind(document["kind"]),
        parent_id=document.get("parent_id"),
        status=document.get("status", "open"),
        sequence=int(document.get("sequence", 0)),
    )
