"""Nomination windows and ballots in MongoDB. A window's leader events ride in its own
outbox, written by the one update that closes it; ballots are one document per nominator
and window (`_id = "<window>:<nominator>"`), replaced on resubmission."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from chorus_kit.errors import Conflict, NotFound
from chorus_kit.mongo import DOCUMENT_LOCKS, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields
from identity.domain.nominations import OPEN, Ballot, NominationWindow


class NominationStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["nomination_windows"]
        self.ballots: AsyncCollection[dict[str, Any]] = database["nomination_ballots"]

    async def prepare(self) -> None:
        await ensure_outbox_index(self.collection)
        await self.collection.create_index([("closes_at", ASCENDING)], name="by_end")
        await self.ballots.create_index([("window_id", ASCENDING)], name="by_window")

    # --- windows ----------------------------------------------------------------------------
    async def add(self, window: NominationWindow) -> None:
        await self.collection.insert_one(
            {**_state(window), **new_document_outbox(window.pending_events)}
        )

    async def get(self, window_id: str) -> NominationWindow:
        document = await self.collection.find_one({"_id": window_id}, {"outbox": 0})
        if document is None:
            raise NotFound(f"no nomination window {window_id}", code="window_not_found")
        return _window(document)

    async def all(self) -> list[NominationWindow]:
        cursor = self.collection.find({}, {"outbox": 0}).sort("opens_at", ASCENDING)
        return [_window(d) for d in await cursor.to_list()]

    async def due(self, now: datetime, *, limit: int = 20) -> list[NominationWindow]:
        """Open windows whose end has come (the service closes them)."""
        cursor = self.collection.find(
            {"status": OPEN, "closes_at": {"$lte": now}}, {"outbox": 0}
        ).limit(limit)
        return [_window(d) for d in await cursor.to_list()]

    async def save(self, window: NominationWindow, *, expected_sequence: int) -> None:
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), window.id):
            result = await self.collection.update_one(
                {"_id": window.id, "sequence": expected_sequence, "status": OPEN},
                {"$set": {**_state(window), **outbox_fields(window.pending_events)}},
            )
        if result.matched_count == 0:
            raise Conflict("the window changed meanwhile", code="concurrent_change")

    # --- ballots ----------------------------------------------------------------------------
    async def put_ballot(self, ballot: Ballot) -> None:
        """The nominator's list, replacing their earlier one (an empty list withdraws it)."""
        ballot_id = f"{ballot.window_id}:{ballot.nominator_id}"
        async with DOCUMENT_LOCKS.hold(namespace_of(self.ballots), ballot_id):
            if not ballot.nominees:
                await self.ballots.delete_one({"_id": ballot_id})
                return
            await self.ballots.replace_one(
                {"_id": ballot_id},
                {
                    "_id": ballot_id,
                    "window_id": ballot.window_id,
                    "nominator_id": ballot.nominator_id,
                    "nominees": list(ballot.nominees),
                },
                upsert=True,
            )

    async def get_ballot(self, window_id: str, nominator_id: str) -> Ballot:
        document = await self.ballots.find_one({"_id": f"{window_id}:{nominator_id}"})
        if document is None:
            return Ballot(window_id=window_id, nominator_id=nominator_id, nominees=())
        return _ballot(document)

    async def ballots_of(self, window_id: str) -> list[Ballot]:
        cursor = self.ballots.find({"window_id": window_id})
        return [_ballot(d) for d in await cursor.to_list()]


def _state(window: NominationWindow) -> dict[str, Any]:
    return {
        "_id": window.id,
        "unit_id": window.unit_id,
        "opens_at": window.opens_at,
        "closes_at": window.closes_at,
        "threshold": window.threshold,
        "max_nominees": window.max_nominees,
        "opened_by": window.opened_by,
        "status": window.status,
        "closed_at": window.closed_at,
        "leaders": list(window.leaders),
    }


def _window(document: dict[str, Any]) -> NominationWindow:
    return NominationWindow(
        id=document["_id"],
        unit_id=document["unit_id"],
        opens_at=document["opens_at"],
        closes_at=document["closes_at"],
        threshold=int(document["threshold"]),
        max_nominees=int(document["max_nominees"]),
        opened_by=document["opened_by"],
        status=document.get("status", OPEN),
        closed_at=document.get("closed_at"),
        leaders=tuple(document.get("leaders", ())),
        sequence=int(document.get("sequence", 0)),
    )


def _ballot(document: dict[str, Any]) -> Ballot:
    return Ballot(
        window_id=document["window_id"],
        nominator_id=document["nominator_id"],
        nominees=tuple(document.get("nominees", ())),
    )
