"""SCIM's storage: provisioning clients (their own collection, each with its outbox), and the
queries SCIM runs over the employees and org units collections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chorus_kit.errors import Conflict, NotFound
from chorus_kit.events.identity import EmploymentStatus
from chorus_kit.mongo import DOCUMENT_LOCKS, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields
from identity.adapters.mongo_store import EmployeeStore, OrgUnitStore
from identity.domain.model import Employee
from identity.domain.scim_clients import ProvisioningClient
from identity.domain.scim_resources import Member

OFFBOARDED = EmploymentStatus.OFFBOARDED.value
# People a SCIM client deleted are gone for SCIM (RFC 7644 §3.6: 404 from then on) while
# Chorus keeps them as leavers; a rehire through the admin API brings them back.
NOT_DELETED: dict[str, Any] = {"$or": [{"status": {"$ne": OFFBOARDED}}, {"scim_deleted_at": None}]}
Sort = list[tuple[str, int]]


class ProvisioningClientStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["provisioning_clients"]

    async def prepare(self) -> None:
        await self.collection.create_index([("unit_id", ASCENDING)], name="by_unit")
        await ensure_outbox_index(self.collection)

    async def add(self, client: ProvisioningClient) -> None:
        document = {**_client_state(client), **new_document_outbox(client.pending_events)}
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError as exc:
            raise Conflict("the provisioning client exists", code="client_exists") from exc

    async def find(self, client_id: str) -> ProvisioningClient | None:
        document = await self.collection.find_one({"_id": client_id}, {"outbox": 0})
        return _client(document) if document else None

    async def get(self, client_id: str) -> ProvisioningClient:
        client = await self.find(client_id)
        if client is None:
            raise NotFound("no such provisioning client", code="client_not_found")
        return client

    async def list(self, *, units: set[str] | None) -> list[ProvisioningClient]:
        query: dict[str, Any] = {} if units is None else {"unit_id": {"$in": sorted(units)}}
        cursor = self.collection.find(query, {"outbox": 0}).sort("created_at", ASCENDING)
        return [_client(d) for d in await cursor.to_list()]

    async def save(self, client: ProvisioningClient, *, expected_sequence: int) -> None:
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), client.id):
            result = await self.collection.update_one(
                {"_id": client.id, "sequence": expected_sequence},
                {"$set": {**_client_state(client), **outbox_fields(client.pending_events)}},
            )
        if result.matched_count == 0:
            raise Conflict("the provisioning client changed meanwhile", code="concurrent_change")


def _client_state(client: ProvisioningClient) -> dict[str, Any]:
    return {
        "_id": client.id,
        "name": client.name,
        "unit_id": client.unit_id,
        "token_hash": client.token_hash,
        "created_at": client.created_at,
        "created_by": client.created_by,
        "revoked_at": client.revoked_at,
        "revoked_by": client.revoked_by,
    }


def _client(document: dict[str, Any]) -> ProvisioningClient:
    return ProvisioningClient(
        id=document["_id"],
        name=document["name"],
        unit_id=document["unit_id"],
        token_hash=document["token_hash"],
        created_at=document["created_at"],
        created_by=document["created_by"],
        revoked_at=document.get("revoked_at"),
        revoked_by=document.get("revoked_by"),
        sequence=int(document.get("sequence", 0)),
    )


class ScimDirectory:
    """Finding, counting and paging people and groups the way SCIM lists them."""

    def __init__(self, employees: EmployeeStore, units: OrgUnitStore) -> None:
        self._employees = employees
        self._people = employees.collection
        self._units = units.collection

    async def users(
        self, query: dict[str, Any], *, sort: Sort, skip: int, limit: int
    ) -> tuple[int, list[Employee]]:
        """How many match, and one page of them in `sort` order (deleted people excluded)."""
        visible = {"$and": [NOT_DELETED, query]}
        total = await self._people.count_documents(visible)
        if limit == 0 or skip >= total:
            return total, []
        cursor = self._people.find(visible, {"_id": 1}).sort(sort).skip(skip).limit(limit)
        ids = [d["_id"] for d in await cursor.to_list()]
        found = {e.id: e for e in await self._employees.get_many(ids)}
        return total, [found[i] for i in ids if i in found]

    async def groups(
        self, query: dict[str, Any], *, sort: Sort, skip: int, limit: int
    ) -> tuple[int, list[str]]:
        """How many org units match, and one page of their ids."""
        total = await self._units.count_documents(query)
        if limit == 0 or skip >= total:
            return total, []
        cursor = self._units.find(query, {"_id": 1}).sort(sort).skip(skip).limit(limit)
        return total, [d["_id"] for d in await cursor.to_list()]

    async def members(self, unit_ids: Sequence[str]) -> dict[str, list[Member]]:
        """Current staff per unit (leavers belong to no group)."""
        found: dict[str, list[Member]] = {u: [] for u in unit_ids}
        if not unit_ids:
            return found
        cursor = self._people.find(
            {"unit_id": {"$in": list(unit_ids)}, "status": {"$ne": OFFBOARDED}},
            {"_id": 1, "unit_id": 1, "given_name": 1, "family_name": 1},
        ).sort("_id", ASCENDING)
        for document in await cursor.to_list():
            display = f"{document['given_name']} {document['family_name']}"
            found[document["unit_id"]].append(Member(id=document["_id"], display=display))
        return found

    async def is_deleted(self, employee_id: str) -> bool:
        document = await self._people.find_one(
            {"_id": employee_id}, {"status": 1, "scim_deleted_at": 1}
        )
        return bool(
            document
            and document.get("status") == OFFBOARDED
            and document.get("scim_deleted_at") is not None
        )

    async def mark_deleted(self, employee_id: str) -> None:
        """Remember that a SCIM client deleted this (offboarded) person."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self._people), employee_id):
            await self._people.update_one(
                {"_id": employee_id, "status": OFFBOARDED},
                {"$set": {"scim_deleted_at": datetime.now(UTC)}},
            )
