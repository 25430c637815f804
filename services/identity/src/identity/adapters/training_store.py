"""Training modules in MongoDB (few, read whole); each created with its audit entry."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from chorus_kit.errors import NotFound
from chorus_kit.events.identity import Role
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox
from identity.domain.training import TrainingModule


class TrainingModuleStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["training_modules"]

    async def prepare(self) -> None:
        await ensure_outbox_index(self.collection)

    async def add(self, module: TrainingModule) -> None:
        await self.collection.insert_one(
            {**_state(module), **new_document_outbox(module.pending_events)}
        )

    async def get(self, module_id: str) -> TrainingModule:
        document = await self.collection.find_one({"_id": module_id}, {"outbox": 0})
        if document is None:
            raise NotFound(f"no training module {module_id}", code="module_not_found")
        return _module(document)

    async def all(self) -> list[TrainingModule]:
        cursor = self.collection.find({}, {"outbox": 0}).sort("created_at", ASCENDING)
        return [_module(d) for d in await cursor.to_list()]


def _state(module: TrainingModule) -> dict[str, Any]:
    return {
        "_id": module.id,
        "title": module.title,
        "required_for": sorted(r.value for r in module.required_for),
        "pass_score": module.pass_score,
        "created_by": module.created_by,
        "created_at": module.created_at,
    }


def _module(document: dict[str, Any]) -> TrainingModule:
    return TrainingModule(
        id=document["_id"],
        title=document["title"],
        required_for=frozenset(Role(r) for r in document["required_for"]),
        pass_score=int(document["pass_score"]),
        created_by=document["created_by"],
        created_at=document["created_at"],
        sequence=int(document.get("sequence", 0)),
    )
