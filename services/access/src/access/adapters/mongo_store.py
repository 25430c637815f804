"""Access's view of employment in MongoDB, applied once per event."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from chorus_kit.errors import NotFound
from chorus_kit.mongo import apply_in_order


class EmploymentView:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["employment"]

    async def apply(self, *, employee_id: str, sequence: int, update: dict[str, Any]) -> bool:
        return await apply_in_order(
            self.collection, aggregate_id=employee_id, sequence=sequence, update=update
        )

    async def get(self, employee_id: str) -> dict[str, Any]:
        document = await self.collection.find_one({"_id": employee_id})
        if document is None:
            raise NotFound(f"access knows no employee {employee_id}", code="employee_not_found")
        return document
