"""Local-account passwords in MongoDB (`credentials`, one document per person, argon2id hash).

Setting a password is a privileged action: its audit event rides in the document's own
outbox, stored in the same write as the new hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chorus_kit.errors import Conflict
from chorus_kit.events import Event
from chorus_kit.mongo import DOCUMENT_LOCKS, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields


@dataclass(frozen=True)
class Credential:
    employee_id: str
    password_hash: str
    sequence: int


class CredentialStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["credentials"]

    async def prepare(self) -> None:
        await ensure_outbox_index(self.collection)

    async def get(self, employee_id: str) -> Credential | None:
        document = await self.collection.find_one(
            {"_id": employee_id}, {"password_hash": 1, "sequence": 1}
        )
        if document is None or not document.get("password_hash"):
            return None
        return Credential(
            employee_id=employee_id,
            password_hash=document["password_hash"],
            sequence=int(document.get("sequence", 0)),
        )

    async def sequence_of(self, employee_id: str) -> int | None:
        """The document's version, None if the person never had a password."""
        document = await self.collection.find_one({"_id": employee_id}, {"sequence": 1})
        return None if document is None else int(document.get("sequence", 0))

    async def set_password(
        self,
        employee_id: str,
        password_hash: str,
        *,
        set_by: str,
        expected_sequence: int | None,
        events: Sequence[Event],
    ) -> None:
        """Store a new hash with its events, if nobody set one meanwhile."""
        fields = {"password_hash": password_hash, "set_at": datetime.now(UTC), "set_by": set_by}
        if expected_sequence is None:
            try:
                await self.collection.insert_one(
                    {"_id": employee_id, **fields, **new_document_outbox(events)}
                )
            except DuplicateKeyError as exc:
                raise Conflict("the password changed meanwhile", code="concurrent_change") from exc
            return
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), employee_id):
            result = await self.collection.update_one(
                {"_id": employee_id, "sequence": expected_sequence},
                {"$set": {**fields, **outbox_fields(events)}},
            )
        if result.matched_count == 0:
            raise Conflict("the password changed meanwhile", code="concurrent_change")

    async def replace_hash(self, employee_id: str, *, old_hash: str, new_hash: str) -> bool:
        """Store a rehash of the same password (new parameters) unless the password changed."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), employee_id):
            result = await self.collection.update_one(
                {"_id": employee_id, "password_hash": old_hash},
                {"$set": {"password_hash": new_hash, "rehashed_at": datetime.now(UTC)}},
            )
        return result.modified_count == 1
