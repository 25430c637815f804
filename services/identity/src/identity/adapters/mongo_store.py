"""Employees in MongoDB; each write stores the new state and its events in one document."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from chorus_kit.errors import Conflict, NotFound
from chorus_kit.events.identity import EmploymentStatus, RoleAssignment
from chorus_kit.mongo import DOCUMENT_LOCKS, is_duplicate_key, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields
from identity.domain.commands import EmployeeFilter
from identity.domain.model import Employee


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
        await ensure_outbox_index(self.collection)

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
        query: dict[str, Any] = {}
        if criteria.unit_id:
            query["unit_id"] = criteria.unit_id
        if criteria.status:
            query["status"] = criteria.status.value
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
    return {
        "_id": employee.id,
        "email": employee.email,
        "email_key": _email_key(employee),
        "given_name": employee.given_name,
        "family_name": employee.family_name,
        "unit_id": employee.unit_id,
        "manager_id": employee.manager_id,
        "manager_chain": list(employee.manager_chain),
        "roles": [r.model_dump(mode="json") for r in employee.roles],
        "status": employee.status.value,
        "start_date": employee.start_date,
        "offboarded_at": employee.offboarded_at,
        "offboard_reason": employee.offboard_reason,
        "updated_at": datetime.now(UTC),
    }


def _employee(document: dict[str, Any]) -> Employee:
    return Employee(
        id=document["_id"],
        email=document["email"],
        given_name=document["given_name"],
        family_name=document["family_name"],
        unit_id=document["unit_id"],
        manager_id=document.get("manager_id"),
        manager_chain=tuple(document.get("manager_chain", ())),
        roles=tuple(RoleAssignment.model_validate(r) for r in document.get("roles", ())),
        status=EmploymentStatus(document["status"]),
        start_date=document["start_date"],
        sequence=int(document.get("sequence", 0)),
        offboarded_at=document.get("offboarded_at"),
        offboard_reason=document.get("offboard_reason"),
    )
