"""The `alerts` collection: each alert access raises, once, as its own one-event document.

An alert's `_id` names the situation it reports, so the insert that raises it is refused
for a situation already reported, whichever replica's checker sees it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chorus_kit.events import Event
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox


class AlertStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["alerts"]

    async def prepare(self) -> None:
        await ensure_outbox_index(self.collection)

    async def raise_once(self, alert_id: str, event: Event, *, at: datetime) -> bool:
        """Store the alert and its event unless this situation was reported before."""
        try:
            await self.collection.insert_one(
                {
                    "_id": alert_id,
                    "type": event.type,
                    "raised_at": at,
                    **new_document_outbox([event]),
                }
            )
        except DuplicateKeyError:
            return False
        return True
