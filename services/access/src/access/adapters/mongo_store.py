"""Access's view of employment in MongoDB, applied once per event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from chorus_kit.errors import NotFound
from chorus_kit.mongo import ViewEffect, apply_many_in_order


class EmploymentView:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["employment"]

    async def apply_many(self, effects: Sequence[ViewEffect]) -> int:
        """Apply each (employee id, sequence, update) once, in order per employee."""
        return await apply_many_in_order(self.collection, effects)

    async def get(self, employee_id: str) -> dict[str, Any]:
        document = await self.collection.find_one({"_id": employee_id})
        if document is None:
            raise NotFound(f"access knows no employee {employee_id}", code="employee_not_found")
        return document
