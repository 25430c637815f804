"""Leases that hold across replicas on FerretDB too: one insert per turn of a repeated effect.

A conditional update on `leased_until` is the usual lease, but FerretDB v1 runs an update as
a read followed by a whole-document replace, without isolation, so two processes can both
"win" it (docs/platform.md). An insert is atomic through the unique `_id` on every database.
So each turn of an effect (the n-th delivery attempt of a connector call, the closing of a
review) is claimed by inserting `<effect>#<n>` with a `leased_until`; a turn whose holder
died (unfinished, lease run out) is taken over by claiming turn n+1, never by updating n.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

# Turns skipped past dead holders in one go (each skip means a holder died mid-turn).
MAX_TAKEOVERS = 5


class TurnClaims:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection

    async def prepare(self) -> None:
        await self.collection.create_index([("effect", ASCENDING)], name="by_effect")

    async def take(
        self,
        effect: str,
        *,
        turn: int,
        holder: str,
        now: datetime,
        lease: timedelta,
        facts: dict[str, Any] | None = None,
    ) -> int | None:
        """The turn this caller now holds (`turn`, or a later one past dead holders); None
        while another holder's lease runs or the turn is done."""
        for candidate in range(turn, turn + MAX_TAKEOVERS):
            try:
                await self.collection.insert_one(
                    {
                        "_id": f"{effect}#{candidate}",
                        "effect": effect,
                        "turn": candidate,
                        "holder": holder,
                        "claimed_at": now,
                        "leased_until": now + lease,
                        "finished": False,
                        **(facts or {}),
                    }
                )
            except DuplicateKeyError:
                held = await self.collection.find_one({"_id": f"{effect}#{candidate}"})
                if held is None:
                    return None  # removed meanwhile: let the next round look again
                if held.get("finished") or held["leased_until"] > now:
                    return None
                continue  # its holder died mid-turn: take the next one
            return candidate
        return None

    async def renew(self, effect: str, turn: int, *, holder: str, until: datetime) -> None:
        """Keep a long turn (closing a large campaign); only its holder ever writes it."""
        await self.collection.update_one(
            {"_id": f"{effect}#{turn}", "holder": holder, "finished": False},
            {"$set": {"leased_until": until}},
        )

    async def finish(self, effect: str, turn: int, **outcome: Any) -> None:
        await self.collection.update_one(
            {"_id": f"{effect}#{turn}"}, {"$set": {"finished": True, **outcome}}
        )

    async def turns_of(self, effect: str) -> list[dict[str, Any]]:
        cursor = self.collection.find({"effect": effect}).sort("turn", ASCENDING)
        return await cursor.to_list()
