"""The `grants` collection (intervals, with their outbox) and the one-time effect claims.

A grant's end and its expiry notice are one-time effects that several replicas' schedulers
(and an owner's revoke, and a leaver flow) may attempt at once. Each is first *claimed* by
inserting `<grant id>:end` or `<grant id>:expiring` into `grant_claims`: an insert is
atomic through the unique `_id` on every database, which a conditional update is not on
FerretDB v1 across processes (it reads, then replaces the whole document). The claim
holds what the effect needs, so if its winner dies before writing the grant, any replica
finishes it later (with the same event ids, see `access.domain.aggregate.effect_id`).

For the vault: `GrantStore.active_grant(account_id, holder_id, roles)`; for the leaver flow:
`GrantStore.read_for_ending(ids)` and `GrantStore.end_grouped(...)`: many grants closed by
grouped writes whose end events ride in the offboarding's completion document (a
carrier, see `chorus_kit.outbox.carrier_outbox`) instead of each grant's outbox. Such a
grant says so: `end_carried_by` (the offboarding) and `end_from_sequence` (its sequence
before), from which the same events are rebuilt if the offboarding is resumed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, UpdateMany
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from access.adapters.due_grants import DueGrants
from access.adapters.grant_holdings import GrantHoldings
from access.domain.aggregate import utc_now
from access.domain.authorization import Visibility
from access.domain.grants import Grant
from chorus_kit.errors import NotFound
from chorus_kit.events.access import AccountRole
from chorus_kit.mongo import DOCUMENT_LOCKS, IN_CHUNKS, namespace_of
from chorus_kit.outbox import PENDING, ensure_outbox_index, new_document_outbox, outbox_fields

END_CARRIED_BY = "end_carried_by"
END_FROM_SEQUENCE = "end_from_sequence"
# What the vault and the gateway get: a grant as stored (an interval), without its events.
GrantView = Grant


def active_at_filter(at: datetime) -> dict[str, Any]:
    """Active at T ⇔ granted_at ≤ T and (revoked_at null or > T) and (expires_at null or > T)."""
    return {
        "granted_at": {"$lte": at},
        "$and": [
            {"$or": [{"revoked_at": None}, {"revoked_at": {"$gt": at}}]},
            {"$or": [{"expires_at": None}, {"expires_at": {"$gt": at}}]},
        ],
    }


def visible_filter(visibility: Visibility) -> dict[str, Any]:
    """Grants the caller may see: their own, their accounts', their units' (admin, auditor)."""
    if visibility.reader_units is None:
        return {}
    return {
        "$or": [
            {"holder_id": visibility.person_id},
            {"account_id": {"$in": sorted(visibility.owned_accounts)}},
            {"account_unit_id": {"$in": sorted(visibility.reader_units)}},
        ]
    }


@dataclass(frozen=True)
class GroupedEnd:
    """Grants of one offboarding, all at one sequence, ending alike in one write."""

    grant_ids: Sequence[str]
    expected_sequence: int
    sequence: int
    revoked_at: datetime
    revoked_by: str
    reason: str
    offboarding_id: str

    def ended_fields(self) -> dict[str, Any]:
        return {
            "revoked_at": self.revoked_at,
            "revoked_by": self.revoked_by,
            "revoke_reason": self.reason,
            "offboarding_id": self.offboarding_id,
            "sequence": self.sequence,
            END_CARRIED_BY: self.offboarding_id,
            END_FROM_SEQUENCE: self.expected_sequence,
        }


@dataclass(frozen=True)
class GrantsForEnding:
    """Grants read by id for the leaver flow, with what decides how each may end."""

    grants: dict[str, Grant] = field(default_factory=dict)
    # Ids whose outbox still holds events (the relay has not published them all).
    pending: frozenset[str] = frozenset()
    # Ids closed by a grouped write → (the offboarding carrying their events, the sequence
    # they had before).
    carried: dict[str, tuple[str, int]] = field(default_factory=dict)


class GrantStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["grants"]
        self.claims: AsyncCollection[dict[str, Any]] = database["grant_claims"]
        # Who holds which grants, by person id (the leaver flow's lookup; see grant_holdings).
        self.holdings = GrantHoldings(database)
        # When each open grant next needs the scheduler (kept current by the writes below).
        self.due = DueGrants()

    async def prepare(self) -> None:
        await ensure_outbox_index(self.collection)
        await self.holdings.build_if_missing(self.collection)
        await self.collection.create_index([("holder_id", ASCENDING)], name="by_holder")
        await self.collection.create_index([("account_id", ASCENDING)], name="by_account")
        await self.collection.create_index(
            [("revoked_at", ASCENDING), ("expires_at", ASCENDING)], name="open_by_expiry"
        )
        await self.claims.create_index(
            [("finished", ASCENDING), ("claimed_at", ASCENDING)], name="unfinished"
        )

    # --- the vault's question ----------------------------------------------------------------
    async def active_grant(
        self, account_id: str, holder_id: str, roles: Iterable[AccountRole]
    ) -> GrantView | None:
        """The grant by which `holder_id` holds one of `roles` on the account now, if any
        (an owner's grant when there are several)."""
        wanted = [r.value for r in roles]
        found = await self.collection.find(
            {
                "account_id": account_id,
                "holder_id": holder_id,
                "role": {"$in": wanted},
                **active_at_filter(utc_now()),
            },
            {"outbox": 0},
        ).to_list()
        found.sort(key=lambda d: (wanted.index(d["role"]), d["_id"]))
        return _grant(found[0]) if found else None

    # --- single grants -------------------------------------------------------------------------
    async def add(self, grant: Grant) -> bool:
        """Insert a new grant with its events; False if it exists already (written before)."""
        document = {**_state(grant), **new_document_outbox(grant.pending_events)}
        await self.holdings.record(
            holder_id=grant.holder_id, grant_id=grant.id, account_id=grant.account_id
        )
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            return False
        self._note(grant)
        return True

    async def get(self, grant_id: str) -> Grant:
        document = await self.collection.find_one({"_id": grant_id}, {"outbox": 0})
        if document is None:
            raise NotFound(f"no grant {grant_id}", code="grant_not_found")
        return _grant(document)

    async def get_many(self, grant_ids: Iterable[str]) -> list[Grant]:
        """The grants of those ids that exist (by `_id`: no scan on FerretDB)."""
        ids = list(dict.fromkeys(grant_ids))
        found: list[Grant] = []
        for start in range(0, len(ids), IN_CHUNKS):
            cursor = self.collection.find(
                {"_id": {"$in": ids[start : start + IN_CHUNKS]}}, {"outbox": 0}
            )
            found += [_grant(d) for d in await cursor.to_list()]
        return found

    async def read_for_ending(self, grant_ids: Iterable[str]) -> GrantsForEnding:
        """The grants of those ids that exist, with their outbox state (by `_id`)."""
        ids = list(dict.fromkeys(grant_ids))
        grants: dict[str, Grant] = {}
        pending: set[str] = set()
        carried: dict[str, tuple[str, int]] = {}
        for start in range(0, len(ids), IN_CHUNKS):
            cursor = self.collection.find(
                {"_id": {"$in": ids[start : start + IN_CHUNKS]}}, {"outbox": 0}
            )
            for document in await cursor.to_list():
                grants[document["_id"]] = _grant(document)
                if document.get(PENDING):
                    pending.add(document["_id"])
                if document.get(END_CARRIED_BY):
                    carried[document["_id"]] = (
                        document[END_CARRIED_BY],
                        int(document[END_FROM_SEQUENCE]),
                    )
        return GrantsForEnding(grants, frozenset(pending), carried)

    async def end_grouped(self, groups: Sequence[GroupedEnd]) -> list[set[str]]:
        """Close each group's grants still open at its `expected_sequence` with no event
        pending, their end events carried by the group's offboarding's completion; per
        group, the ids now closed so.

        One conditional `update_many` per group, all in one bulk command per chunk (a batch
        of 500 leavers was 500 commands, each a round trip and a turn at the write lock).
        The bulk answers one count for all: when some did not close (changed meanwhile, or
        closed by a previous attempt) the grants are read back to tell which are whose."""
        statements = [
            UpdateMany(
                {
                    "_id": {"$in": list(group.grant_ids)},
                    "sequence": group.expected_sequence,
                    "revoked_at": None,
                    PENDING: False,
                },
                {"$set": group.ended_fields()},
            )
            for group in groups
        ]
        ids = [g for group in groups for g in group.grant_ids]
        modified = 0
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), *ids):
            for start in range(0, len(statements), IN_CHUNKS):
                chunk = statements[start : start + IN_CHUNKS]
                modified += (await self.collection.bulk_write(chunk, ordered=False)).modified_count
        if modified == len(ids):
            closed = [set(group.grant_ids) for group in groups]
        else:
            carried = (await self.read_for_ending(ids)).carried
            closed = [
                {
                    g
                    for g in group.grant_ids
                    if carried.get(g) == (group.offboarding_id, group.expected_sequence)
                }
                for group in groups
            ]
        self.due.forget(g for done in closed for g in done)
        return closed

    async def find(self, grant_id: str) -> Grant | None:
        document = await self.collection.find_one({"_id": grant_id}, {"outbox": 0})
        return _grant(document) if document else None

    async def save(self, grant: Grant, *, expected_sequence: int) -> bool:
        """Store a change and its events if the grant is still open and nobody wrote since."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), grant.id):
            result = await self.collection.update_one(
                {"_id": grant.id, "sequence": expected_sequence, "revoked_at": None},
                {"$set": {**_state(grant), **outbox_fields(grant.pending_events)}},
            )
        if result.matched_count != 1:
            return False
        self._note(grant)
        return True

    def _note(self, grant: Grant) -> None:
        self.due.note(
            grant.id,
            expires_at=grant.expires_at,
            expiring_sent=grant.expiring_sent,
            is_open=grant.is_open,
        )

    # --- one-time effects ---------------------------------------------------------------------
    async def claim(self, claim: dict[str, Any]) -> bool:
        """True if this caller won the effect `claim["_id"]` (nobody claimed it before)."""
        try:
            await self.claims.insert_one({**claim, "finished": False})
        except DuplicateKeyError:
            return False
        return True

    async def get_claim(self, claim_id: str) -> dict[str, Any] | None:
        return await self.claims.find_one({"_id": claim_id})

    async def claim_finished(self, claim_id: str) -> None:
        await self.claims.update_one({"_id": claim_id}, {"$set": {"finished": True}})

    async def unfinished_claims(
        self, *, claimed_before: datetime, limit: int = 100
    ) -> list[dict[str, Any]]:
        cursor = self.claims.find({"finished": False, "claimed_at": {"$lt": claimed_before}}).limit(
            limit
        )
        return await cursor.to_list()

    # --- what the scheduler looks for --------------------------------------------------------
    async def resync_due(self) -> int:
        """Rebuild `due` from every open grant with an expiry (a scan of `grants`: rare)."""
        self.due.begin_resync()
        try:
            cursor = self.collection.find(
                {"revoked_at": None, "expires_at": {"$ne": None}},
                {"expires_at": 1, "expiring_sent": 1},
            )
            scanned = {
                d["_id"]: (d["expires_at"], bool(d.get("expiring_sent", False)))
                async for d in cursor
            }
        except BaseException:
            self.due.abandon_resync()
            raise
        self.due.finish_resync(scanned)
        return len(scanned)

    async def due_expiring(
        self, *, now: datetime, until: datetime, limit: int = 200
    ) -> list[Grant]:
        cursor = self.collection.find(
            {
                "revoked_at": None,
                "expiring_sent": False,
                "expires_at": {"$gt": now, "$lte": until},
            },
            {"outbox": 0},
        ).limit(limit)
        return [_grant(d) for d in await cursor.to_list()]

    async def due_expiry(self, *, now: datetime, limit: int = 200) -> list[Grant]:
        cursor = self.collection.find(
            {"revoked_at": None, "expires_at": {"$lte": now}}, {"outbox": 0}
        ).limit(limit)
        return [_grant(d) for d in await cursor.to_list()]

    # --- reads ---------------------------------------------------------------------------------
    async def open_of_holder(self, holder_id: str) -> list[Grant]:
        """Every grant of the person not yet ended (for the leaver flow), by id."""
        cursor = self.collection.find(
            {"holder_id": holder_id, "revoked_at": None}, {"outbox": 0}
        ).sort("_id", ASCENDING)
        return [_grant(d) for d in await cursor.to_list()]

    async def held_accounts(self, holder_id: str) -> list[str]:
        """Accounts on which the person holds an active grant now (every access request
        asks this of its caller: by `_id` through the holdings, never a scan)."""
        now = utc_now()
        return sorted(
            {g.account_id for g in await self.of_holders([holder_id]) if g.active_at(now)}
        )

    async def of_holders(self, holder_ids: Iterable[str]) -> list[Grant]:
        """Every grant the people ever held, by id order: their holdings, then the grants
        by `_id` (two `$in` reads whatever the size of `grants`)."""
        held = await self.holdings.held_by(holder_ids)
        found = await self.get_many(g for grants in held.values() for g in grants)
        return sorted(found, key=lambda g: g.id)

    async def of_keys(
        self,
        key: str,
        values: Sequence[str],
        *,
        visibility: Visibility,
        active_only: bool,
    ) -> list[Grant]:
        """Grants whose `key` (holder_id, account_id) is one of `values`, as the caller sees."""
        ids = list(dict.fromkeys(values))
        if key == "holder_id":  # the gateway's grants of a page of people: by `_id`
            now = utc_now()
            return [
                g
                for g in await self.of_holders(ids)
                if visibility.sees_grant(g) and (not active_only or g.active_at(now))
            ]
        found: list[Grant] = []
        for start in range(0, len(ids), IN_CHUNKS):
            clauses: list[dict[str, Any]] = [
                {key: {"$in": ids[start : start + IN_CHUNKS]}},
                visible_filter(visibility),
            ]
            if active_only:
                clauses.append(active_at_filter(utc_now()))
            cursor = self.collection.find({"$and": clauses}, {"outbox": 0}).sort("_id", ASCENDING)
            found += [_grant(d) for d in await cursor.to_list()]
        return found

    async def search(
        self,
        *,
        visibility: Visibility,
        at: datetime | None,
        open_only: bool = False,
        unit_ids: set[str] | None = None,
        account_id: str | None = None,
        holder_id: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Grant]:
        """Grants by id order; `at`: only those active then; `open_only`: not yet ended."""
        clauses: list[dict[str, Any]] = [visible_filter(visibility)]
        if at is not None:
            clauses.append(active_at_filter(at))
        if open_only:
            clauses.append({"revoked_at": None})
        if unit_ids is not None:
            clauses.append({"account_unit_id": {"$in": sorted(unit_ids)}})
        if account_id:
            clauses.append({"account_id": account_id})
        if holder_id:
            clauses.append({"holder_id": holder_id})
        if after:
            clauses.append({"_id": {"$gt": after}})
        cursor = (
            self.collection.find({"$and": clauses}, {"outbox": 0})
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        return [_grant(d) for d in await cursor.to_list()]

    async def active_holders(self) -> set[str]:
        """Everyone holding an active grant now (the former-staff check joins them with
        employment)."""
        cursor = await self.collection.aggregate(
            [{"$match": active_at_filter(utc_now())}, {"$group": {"_id": "$holder_id"}}]
        )
        return {d["_id"] for d in await cursor.to_list()}


def _state(grant: Grant) -> dict[str, Any]:
    return {
        "_id": grant.id,
        "account_id": grant.account_id,
        "account_unit_id": grant.account_unit_id,
        "holder_id": grant.holder_id,
        "role": grant.role.value,
        "granted_at": grant.granted_at,
        "granted_by": grant.granted_by,
        "expires_at": grant.expires_at,
        "revoked_at": grant.revoked_at,
        "revoked_by": grant.revoked_by,
        "revoke_reason": grant.revoke_reason,
        "offboarding_id": grant.offboarding_id,
        "request_id": grant.request_id,
        "expiring_sent": grant.expiring_sent,
    }


def _grant(document: dict[str, Any]) -> Grant:
    return Grant(
        id=document["_id"],
        account_id=document["account_id"],
        account_unit_id=document["account_unit_id"],
        holder_id=document["holder_id"],
        role=AccountRole(document["role"]),
        granted_at=document["granted_at"],
        granted_by=document["granted_by"],
        expires_at=document.get("expires_at"),
        revoked_at=document.get("revoked_at"),
        revoked_by=document.get("revoked_by"),
        revoke_reason=document.get("revoke_reason"),
        offboarding_id=document.get("offboarding_id"),
        request_id=document.get("request_id"),
        expiring_sent=bool(document.get("expiring_sent", False)),
        sequence=int(document.get("sequence", 0)),
    )
