"""The append-only audit log every service keeps of privileged actions.

An audit entry travels as an event, so recording it is part of the same single-document
write as the change it describes (the entry rides in the aggregate's outbox): a crash can
never keep the change and lose its entry, or the reverse. A service reads its own audit
topic back into an `audit` collection (insert by entry id, so a replay adds nothing),
which its read API serves. Actions that change no aggregate (a burst of failed sign-ins,
a token created elsewhere) are written as their own one-event document by `record_alone`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from chorus_kit.events.audit import AuditOutcome, AuditRecorded
from chorus_kit.events.envelope import Event, new_event
from chorus_kit.mongo import insert_new
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox

AUDIT_FIELDS = frozenset(AuditRecorded.model_fields)


def audit_entry(
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    unit_id: str | None = None,
    outcome: AuditOutcome = AuditOutcome.SUCCEEDED,
    details: dict[str, str | int | bool | None] | None = None,
    client_address: str | None = None,
) -> AuditRecorded:
    return AuditRecorded(
        entry_id=str(uuid.uuid4()),
        at=datetime.now(UTC),
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        unit_id=unit_id,
        outcome=outcome,
        details=details or {},
        client_address=client_address,
    )


class AuditLog:
    """The `audit` collection (read side) and the `audit_outbox` for standalone entries."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        *,
        event_type: str,
        source: str,
        events_written: Callable[[AsyncCollection[dict[str, Any]], str, Sequence[Event]], None]
        | None = None,
    ) -> None:
        self.entries: AsyncCollection[dict[str, Any]] = database["audit"]
        # Standalone entries wait here, each its own aggregate, until the relay sent them.
        self.outbox: AsyncCollection[dict[str, Any]] = database["audit_outbox"]
        self._event_type = event_type
        self._source = source
        self._events_written = events_written

    async def prepare(self) -> None:
        await self.entries.create_index([("at", DESCENDING)], name="newest_first")
        await self.entries.create_index([("target_id", ASCENDING)], name="by_target")
        await self.entries.create_index([("actor", ASCENDING)], name="by_actor")
        await ensure_outbox_index(self.outbox)

    def event(self, entry: AuditRecorded, *, subject: str, sequence: int) -> Event:
        """The entry as an event of the aggregate `subject`, to store with its change."""
        return new_event(
            self._event_type, source=self._source, subject=subject, sequence=sequence, data=entry
        )

    async def record_alone(self, entry: AuditRecorded) -> None:
        """Record an action that changes no aggregate (its own document, its own outbox)."""
        event = self.event(entry, subject=entry.entry_id, sequence=1)
        await self.outbox.insert_one({"_id": entry.entry_id, **new_document_outbox([event])})
        if self._events_written is not None:
            self._events_written(self.outbox, entry.entry_id, [event])

    async def apply_recorded(self, events: Sequence[Event]) -> None:
        """Consumer side: store each entry once, whatever the number of deliveries."""
        documents = {}
        for event in events:
            entry = event.data_as(AuditRecorded)
            documents[entry.entry_id] = {"_id": entry.entry_id, **entry.model_dump(mode="python")}
        batch = list(documents.values())
        # One insert per run of entries (a leaver's offboarding records dozens at once);
        # an entry recorded by an earlier delivery is refused by its `_id` and skipped.
        for start in range(0, len(batch), 500):
            await insert_new(self.entries, batch[start : start + 500])

    async def search(
        self,
        *,
        units: set[str] | None,
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[AuditRecorded]:
        """Newest first; `units=None` means every unit, else entries of those units only."""
        clauses: list[dict[str, Any]] = []
        if units is not None:
            clauses.append({"unit_id": {"$in": sorted(units)}})
        if actor:
            clauses.append({"actor": actor})
        if action:
            clauses.append({"action": action})
        if target_id:
            clauses.append({"target_id": target_id})
        if before:
            at, entry_id = before
            clauses.append({"$or": [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": entry_id}}]})
        query: dict[str, Any] = {"$and": clauses} if clauses else {}
        cursor = (
            self.entries.find(query).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        )
        return [
            AuditRecorded.model_validate({k: v for k, v in d.items() if k in AUDIT_FIELDS})
            for d in await cursor.to_list()
        ]
