"""The `accounts` collection: one document per company social account, with its outbox.

Besides its fields, an account document holds the owner grant changes its last writes
decided and that are not yet applied to the grants collection (`owner_sync`, keyed by grant
id, with `owner_sync_pending` to find them), so a writer that died after the account's
write leaves the rest to the sweep.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from access.domain.accounts import (
    Account,
    ClassificationPolicy,
    OwnerGrantChange,
    OwnerGrantOp,
    Ownership,
    handle_key,
)
from access.domain.authorization import Visibility
from chorus_kit.errors import Conflict, NotFound
from chorus_kit.events.access import Classification
from chorus_kit.events.identity import SocialNetwork
from chorus_kit.mongo import DOCUMENT_LOCKS, is_duplicate_key, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields

PENDING_SYNC = "owner_sync_pending"


class AccountStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["accounts"]

    async def prepare(self) -> None:
        await ensure_outbox_index(self.collection)
        await self.collection.create_index(
            [("handle_key", ASCENDING)], name="one_entry_per_handle", unique=True
        )
        await self.collection.create_index([("owners", ASCENDING)], name="by_owner")
        await self.collection.create_index([("unit_id", ASCENDING)], name="by_unit")
        await self.collection.create_index([(PENDING_SYNC, ASCENDING)], name="owner_sync_pending")

    async def add(self, account: Account) -> None:
        document = {
            **_state(account),
            "connector": None,
            **_sync_fields(account.owner_grant_changes, nested=False),
            **new_document_outbox(account.pending_events),
        }
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError as exc:
            raise Conflict(
                "this network handle is registered already", code="account_exists"
            ) from exc

    async def get(self, account_id: str) -> Account:
        document = await self.collection.find_one({"_id": account_id}, {"outbox": 0})
        if document is None:
            raise NotFound(f"no account {account_id}", code="account_not_found")
        return _account(document)

    async def get_many(self, account_ids: Iterable[str]) -> list[Account]:
        ids = list(dict.fromkeys(account_ids))
        if not ids:
            return []
        found = await self.collection.find({"_id": {"$in": ids}}, {"outbox": 0}).to_list()
        return [_account(d) for d in found]

    async def save(self, account: Account, *, expected_sequence: int) -> None:
        """Store a change, its events and its owner grant changes if nobody wrote meanwhile."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), account.id):
            try:
                result = await self.collection.update_one(
                    {"_id": account.id, "sequence": expected_sequence},
                    {
                        "$set": {
                            **_state(account),
                            **_sync_fields(account.owner_grant_changes, nested=True),
                            **outbox_fields(account.pending_events),
                        }
                    },
                )
            except OperationFailure as exc:  # a new handle taken by another account
                if not is_duplicate_key(exc):
                    raise
                raise Conflict(
                    "this network handle is registered already", code="account_exists"
                ) from exc
        if result.matched_count == 0:
            raise Conflict("the account changed meanwhile; retry", code="concurrent_change")

    async def owned_by(self, person_id: str) -> list[str]:
        found = await self.collection.find({"owners": person_id}, {"_id": 1}).to_list()
        return [d["_id"] for d in found]

    async def search(
        self,
        visibility: Visibility,
        *,
        unit_ids: set[str] | None,
        classification: Classification | None,
        coverage_low: bool | None,
        after: str | None,
        limit: int,
    ) -> list[Account]:
        clauses: list[dict[str, Any]] = [_visible(visibility)]
        if unit_ids is not None:
            clauses.append({"unit_id": {"$in": sorted(unit_ids)}})
        if classification is not None:
            clauses.append({"classification": classification.value})
        if coverage_low is not None:
            clauses.append({"coverage_low": coverage_low})
        if after:
            clauses.append({"_id": {"$gt": after}})
        cursor = (
            self.collection.find({"$and": clauses}, {"outbox": 0})
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        return [_account(d) for d in await cursor.to_list()]

    # --- owner grant changes awaiting application -------------------------------------------
    async def pending_owner_changes(
        self, *, limit: int = 100
    ) -> list[tuple[Account, list[OwnerGrantChange]]]:
        cursor = self.collection.find({PENDING_SYNC: True}, {"outbox": 0}).limit(limit)
        return [(_account(d), _changes(d)) for d in await cursor.to_list()]

    async def owner_changes_of(self, account_id: str) -> tuple[Account, list[OwnerGrantChange]]:
        document = await self.collection.find_one({"_id": account_id}, {"outbox": 0})
        if document is None:
            raise NotFound(f"no account {account_id}", code="account_not_found")
        return _account(document), _changes(document)

    async def owner_changes_applied(
        self, account_id: str, keys: Sequence[str], *, sequence: int
    ) -> None:
        """Forget applied changes; the pending flag clears only if no newer write came."""
        slots = {f"owner_sync.{k}": "" for k in keys}
        update: dict[str, Any] = {"$set": {PENDING_SYNC: False}}
        if slots:
            update["$unset"] = slots
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), account_id):
            result = await self.collection.update_one(
                {"_id": account_id, "sequence": sequence}, update
            )
            if result.matched_count == 0 and slots:
                await self.collection.update_one({"_id": account_id}, {"$unset": slots})


def _visible(visibility: Visibility) -> dict[str, Any]:
    if visibility.member_units is None:
        return {}
    mine = sorted(visibility.owned_accounts | visibility.held_accounts)
    return {
        "$or": [
            {"unit_id": {"$in": sorted(visibility.member_units)}},
            {"_id": {"$in": mine}},
        ]
    }


def _sync_fields(changes: Sequence[OwnerGrantChange], *, nested: bool) -> dict[str, Any]:
    if not changes:
        return {} if nested else {"owner_sync": {}, PENDING_SYNC: False}
    entries = {c.key: _change_document(c) for c in changes}
    if nested:
        return {**{f"owner_sync.{g}": e for g, e in entries.items()}, PENDING_SYNC: True}
    return {"owner_sync": entries, PENDING_SYNC: True}


def _change_document(change: OwnerGrantChange) -> dict[str, Any]:
    return {
        "grant_id": change.grant_id,
        "person_id": change.person_id,
        "op": change.op.value,
        "at": change.at,
        "by": change.by,
        "account_sequence": change.account_sequence,
        "reason": change.reason,
        "offboarding_id": change.offboarding_id,
        "request_id": change.request_id,
    }


def _changes(document: dict[str, Any]) -> list[OwnerGrantChange]:
    changes = [
        OwnerGrantChange(
            grant_id=c["grant_id"],
            person_id=c["person_id"],
            op=OwnerGrantOp(c["op"]),
            at=c["at"],
            by=c["by"],
            account_sequence=int(c["account_sequence"]),
            reason=c.get("reason"),
            offboarding_id=c.get("offboarding_id"),
            request_id=c.get("request_id"),
        )
        for c in (document.get("owner_sync") or {}).values()
    ]
    # Opens before closes of one write: a grant exists before anything closes it.
    return sorted(changes, key=lambda c: (c.account_sequence, c.op is OwnerGrantOp.CLOSE))


def _state(account: Account) -> dict[str, Any]:
    return {
        "_id": account.id,
        "network": account.network.value,
        "handle": account.handle,
        "handle_key": handle_key(account.network, account.handle),
        "url": account.url,
        "unit_id": account.unit_id,
        "purpose": account.purpose,
        "classification": account.classification.value,
        "status": account.status,
        "owners": account.owners,
        "ownerships": [
            {"person_id": o.person_id, "grant_id": o.grant_id, "since": o.since}
            for o in account.ownerships
        ],
        "coverage_low": account.coverage_low,
        "max_grant_days": account.policy.max_grant_days,
        "rotate_after_checkout": account.policy.rotate_after_checkout,
        "secret_max_age_days": account.policy.secret_max_age_days,
        "registered_at": account.registered_at,
        "registered_by": account.registered_by,
        "updated_at": datetime.now(UTC),
    }


def _account(document: dict[str, Any]) -> Account:
    return Account(
        id=document["_id"],
        network=SocialNetwork(document["network"]),
        handle=document["handle"],
        url=document.get("url"),
        unit_id=document["unit_id"],
        purpose=document.get("purpose"),
        classification=Classification(document["classification"]),
        policy=ClassificationPolicy(
            max_grant_days=int(document["max_grant_days"]),
            rotate_after_checkout=bool(document["rotate_after_checkout"]),
            secret_max_age_days=int(document["secret_max_age_days"]),
        ),
        ownerships=tuple(
            Ownership(person_id=o["person_id"], grant_id=o["grant_id"], since=o["since"])
            for o in document.get("ownerships", ())
        ),
        registered_at=document["registered_at"],
        registered_by=document["registered_by"],
        status=document.get("status", "active"),
        coverage_low=bool(document.get("coverage_low", False)),
        connector=document.get("connector"),
        sequence=int(document.get("sequence", 0)),
    )
