"""The `offboardings` and `offboarding_completions` collections, and the batched reads and
claims the leaver flow makes.

An offboarding document is inserted with its plan (who takes over which account) before
any effect. Its completion is a new document in `offboarding_completions`
under the same `_id`, inserted once (a second insert is refused by the unique `_id`): it
holds the summary and, in its outbox (a carrier, `chorus_kit.outbox.carrier_outbox`), the
end events of the grants the offboarding closed by grouped writes, then
`offboarding.completed` and its audit entry. An offboarding is completed ⇔ that document
exists (`find_many` says `status` from it; the plan's document is never updated for it:
that would be one more write per leaver).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from access.domain.offboarding import Handover, Plan
from chorus_kit.events import Event
from chorus_kit.mongo import DOCUMENT_LOCKS, IN_CHUNKS, insert_new, namespace_of
from chorus_kit.outbox import carrier_outbox, ensure_outbox_index

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
# Documents per insert: one statement each, well below FerretDB v1's limit per request.
INSERT_CHUNK = 500


@dataclass(frozen=True)
class LeaseFacts:
    """What the leases collection says of a person, to skip the vault for those it cannot
    concern (most leavers never checked anything out)."""

    open_leases: int = 0
    checked_out_since: int = 0  # check-outs in the look-back window
    ended_by_offboarding: int = 0  # leases an offboarding of this batch ended already

    @property
    def concerns_vault(self) -> bool:
        return bool(self.open_leases or self.checked_out_since or self.ended_by_offboarding)


def handovers_of(document: Mapping[str, Any]) -> list[Handover]:
    return [
        Handover(account_id=h["account_id"], from_id=h["from_id"], to_id=h.get("to_id"))
        for h in document.get("handovers") or ()
    ]


def _handover_documents(handovers: Iterable[Handover]) -> list[dict[str, Any]]:
    return [{"account_id": h.account_id, "from_id": h.from_id, "to_id": h.to_id} for h in handovers]


class OffboardingStore:
    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        *,
        claims: AsyncCollection[dict[str, Any]],
    ) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["offboardings"]
        self.completions: AsyncCollection[dict[str, Any]] = database["offboarding_completions"]
        # The one-time effect claims the access core keeps for grants (`<grant id>:end`).
        self.claims = claims
        # The vault's leases, read only to know whom the vault must be asked about.
        self.leases: AsyncCollection[dict[str, Any]] = database["leases"]

    async def prepare(self) -> None:
        await ensure_outbox_index(self.completions)

    # --- offboarding documents ------------------------------------------------------------
    async def find_many(self, offboarding_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The offboardings of those ids that started or completed, each with `status`:
        `completed` where the completion exists, else `in_progress`."""
        ids = list(dict.fromkeys(offboarding_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), IN_CHUNKS):
            chunk = ids[start : start + IN_CHUNKS]
            started, done = await asyncio.gather(
                self.collection.find({"_id": {"$in": chunk}}).to_list(),
                self.completions.find({"_id": {"$in": chunk}}, {"_id": 1}).to_list(),
            )
            found.update({d["_id"]: {**d, "status": IN_PROGRESS} for d in started})
            for document in done:
                found.setdefault(document["_id"], {"_id": document["_id"]})["status"] = COMPLETED
        return found

    async def start(self, plans: Sequence[Plan], *, at: datetime) -> None:
        """Insert the offboardings of `plans`, in progress (those present stay as they are)."""
        documents = [
            {
                "_id": plan.offboarding_id,
                "person_id": plan.departure.person.id,
                "trigger": plan.departure.trigger.value,
                "trigger_event_id": plan.departure.trigger_event_id,
                "previous_unit_id": plan.departure.previous_unit_id,
                "started_at": at,
                "handovers": _handover_documents(plan.handovers),
            }
            for plan in plans
        ]
        for start in range(0, len(documents), INSERT_CHUNK):
            await insert_new(self.collection, documents[start : start + INSERT_CHUNK])

    async def replan_handovers(self, offboarding_id: str, handovers: Sequence[Handover]) -> None:
        """A resumed offboarding's handovers, decided again for accounts still to hand over."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), offboarding_id):
            await self.collection.update_one(
                {"_id": offboarding_id},
                {"$set": {"handovers": _handover_documents(handovers)}},
            )

    async def complete(
        self, completions: Sequence[tuple[str, Mapping[str, Any], Sequence[Event]]]
    ) -> list[str]:
        """Insert each (offboarding id, summary, events) completion; the ids completed now
        (the others were completed before)."""
        documents = [
            {"_id": offboarding_id, **summary, **carrier_outbox(events)}
            for offboarding_id, summary, events in completions
        ]
        inserted: list[str] = []
        for start in range(0, len(documents), INSERT_CHUNK):
            chunk = documents[start : start + INSERT_CHUNK]
            refused = await insert_new(self.completions, chunk)
            inserted += [d["_id"] for d in chunk if d["_id"] not in refused]
        return inserted

    # --- grant claims -----------------------------------------------------------------------
    async def claim(self, claims: Sequence[dict[str, Any]]) -> set[str]:
        """Insert claims; the ids this caller won (the others were claimed before)."""
        won: set[str] = set()
        for start in range(0, len(claims), INSERT_CHUNK):
            chunk = claims[start : start + INSERT_CHUNK]
            refused = await insert_new(self.claims, chunk)
            won |= {c["_id"] for c in chunk} - refused
        return won

    async def claims_of(self, claim_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(dict.fromkeys(claim_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), IN_CHUNKS):
            cursor = self.claims.find({"_id": {"$in": ids[start : start + IN_CHUNKS]}})
            found.update({d["_id"]: d for d in await cursor.to_list()})
        return found

    # --- what the vault may have to do ----------------------------------------------------
    async def lease_facts(
        self, person_ids: Iterable[str], *, since: datetime, offboarding_ids: Iterable[str]
    ) -> dict[str, LeaseFacts]:
        """Per person, their leases as far as the leaver flow cares (one query per chunk)."""
        ids = list(dict.fromkeys(person_ids))
        ours = set(offboarding_ids)
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for start in range(0, len(ids), IN_CHUNKS):
            cursor = self.leases.find(
                {"holder_id": {"$in": ids[start : start + IN_CHUNKS]}},
                {"holder_id": 1, "status": 1, "checked_out_at": 1, "offboarding_id": 1},
            )
            for lease in await cursor.to_list():
                mine = counts[lease["holder_id"]]
                mine["open"] += lease.get("status") == "open"
                checked_out = lease.get("checked_out_at")
                mine["since"] += checked_out is not None and checked_out >= since
                mine["ended"] += lease.get("offboarding_id") in ours
        return {
            person: LeaseFacts(
                open_leases=c["open"], checked_out_since=c["since"], ended_by_offboarding=c["ended"]
            )
            for person, c in counts.items()
        }
