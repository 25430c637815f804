"""Access's mirrors of identity in MongoDB (employment and the org tree), applied once per event."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from access.domain.org_view import MirroredUnit, UnitTree
from chorus_kit.errors import NotFound
from chorus_kit.events.identity import EmploymentStatus, UnitKind
from chorus_kit.mongo import IN_CHUNKS, ViewEffect, apply_many_in_order


class EmploymentView:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["employment"]

    async def apply_many(self, effects: Sequence[ViewEffect]) -> int:
        """Apply each (employee id, sequence, update) once, in order per employee.

        Two consumer groups apply the same events (the mirror's and the leavers'), so one
        of them usually finds each applied already. Those are dropped after one read by
        `_id` per chunk: written anyway, an upsert that finds its document newer fails on
        FerretDB's unique `_id`, one failed write per event to learn nothing."""
        ids = list(dict.fromkeys(a for a, _, _ in effects))
        held: dict[str, int] = {}
        for start in range(0, len(ids), IN_CHUNKS):
            cursor = self.collection.find(
                {"_id": {"$in": ids[start : start + IN_CHUNKS]}}, {"last_sequence": 1}
            )
            held.update({d["_id"]: int(d.get("last_sequence", 0)) for d in await cursor.to_list()})
        behind = [(a, n, u) for a, n, u in effects if held.get(a, 0) < n]
        if not behind:
            return 0
        return await apply_many_in_order(self.collection, behind, existing=held.keys())

    async def get(self, employee_id: str) -> dict[str, Any]:
        document = await self.collection.find_one({"_id": employee_id})
        if document is None:
            raise NotFound(f"access knows no employee {employee_id}", code="employee_not_found")
        return document

    async def find_many(self, employee_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The records of those of `employee_ids` access knows (without their history)."""
        ids = list(dict.fromkeys(employee_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), IN_CHUNKS):
            cursor = self.collection.find(
                {"_id": {"$in": ids[start : start + IN_CHUNKS]}}, {"history": 0}
            )
            found.update({d["_id"]: d for d in await cursor.to_list()})
        return found

    async def active_among(self, employee_ids: Iterable[str]) -> set[str]:
        records = await self.find_many(employee_ids)
        return {i for i, r in records.items() if r.get("status") == EmploymentStatus.ACTIVE.value}


class OrgUnitView:
    """The mirrored org tree; small (hundreds of units), read whole and cached briefly."""

    def __init__(
        self, database: AsyncDatabase[dict[str, Any]], *, root_id: str, cache_seconds: float = 1.0
    ) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["org_units"]
        self._root_id = root_id
        self._cache_seconds = cache_seconds
        self._tree: UnitTree | None = None
        self._read_at = 0.0

    async def apply_many(self, effects: Sequence[ViewEffect]) -> int:
        applied = await apply_many_in_order(self.collection, effects)
        self._tree = None
        return applied

    async def tree(self) -> UnitTree:
        if self._tree is None or time.monotonic() - self._read_at > self._cache_seconds:
            documents = await self.collection.find({}, {"path": 0}).to_list()
            self._tree = UnitTree(
                (
                    MirroredUnit(
                        id=d["_id"],
                        parent_id=d.get("parent_id"),
                        kind=UnitKind(d["kind"]),
                        status=d.get("status", "open"),
                        name=d.get("name", ""),
                    )
                    for d in documents
                ),
                root_id=self._root_id,
            )
            self._read_at = time.monotonic()
        return self._tree
