"""Where connectors live: each account's `connector` field, the sealed signing secrets
(`connector_secrets`), the calls (`connector_calls`, with their outbox) and the claimed
delivery attempts (`connector_attempts`, one document per attempt: the lease and the record).

An account's connector is changed by a targeted write of that one field, with the audit
entry in the account's outbox, conditional on the account's `sequence` (the core's writes
of the account never touch `connector`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from access.adapters.effect_claims import TurnClaims
from access.domain.accounts import Account
from access.domain.connectors import (
    CallScope,
    CallStatus,
    ConnectorAction,
    ConnectorCall,
    ConnectorConfig,
)
from access.domain.vault import Sealed
from chorus_kit.errors import Conflict, NotFound
from chorus_kit.events.identity import SocialNetwork
from chorus_kit.mongo import DOCUMENT_LOCKS, IN_CHUNKS, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields


class ConnectorConfigStore:
    """The `connector` field of accounts and the secrets it refers to."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.accounts: AsyncCollection[dict[str, Any]] = database["accounts"]
        self.secrets: AsyncCollection[dict[str, Any]] = database["connector_secrets"]

    async def prepare(self) -> None:
        await self.secrets.create_index([("account_id", ASCENDING)], name="by_account")

    async def config_of(self, account_id: str) -> ConnectorConfig | None:
        document = await self.accounts.find_one({"_id": account_id}, {"connector": 1})
        if document is None:
            raise NotFound(f"no account {account_id}", code="account_not_found")
        return config_from(document.get("connector"))

    async def with_connector(self, account_ids: Sequence[str]) -> set[str]:
        ids = list(dict.fromkeys(account_ids))
        found: set[str] = set()
        for start in range(0, len(ids), IN_CHUNKS):
            cursor = self.accounts.find(
                {"_id": {"$in": ids[start : start + IN_CHUNKS]}, "connector": {"$ne": None}},
                {"_id": 1},
            )
            found |= {d["_id"] for d in await cursor.to_list()}
        return found

    async def add_secret(
        self, secret_ref: str, account_id: str, sealed: Sealed, *, at: datetime
    ) -> None:
        await self.secrets.insert_one(
            {
                "_id": secret_ref,
                "account_id": account_id,
                "ciphertext": sealed.ciphertext,
                "wrapped_key": sealed.wrapped_key,
                "key_id": sealed.key_id,
                "algorithm": sealed.algorithm,
                "created_at": at,
            }
        )

    async def sealed_secret(self, secret_ref: str) -> Sealed | None:
        document = await self.secrets.find_one({"_id": secret_ref})
        if document is None:
            return None
        return Sealed(
            ciphertext=bytes(document["ciphertext"]),
            wrapped_key=bytes(document["wrapped_key"]),
            key_id=document["key_id"],
            algorithm=document["algorithm"],
        )

    async def forget_secret(self, secret_ref: str) -> None:
        await self.secrets.delete_one({"_id": secret_ref})

    async def save(
        self, account: Account, config: ConnectorConfig | None, *, expected_sequence: int
    ) -> None:
        """Store the account's connector and the events (its audit entry) of the change."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self.accounts), account.id):
            result = await self.accounts.update_one(
                {"_id": account.id, "sequence": expected_sequence},
                {
                    "$set": {
                        "connector": config_document(config),
                        **outbox_fields(account.pending_events),
                    }
                },
            )
        if result.matched_count == 0:
            raise Conflict("the account changed meanwhile; retry", code="concurrent_change")


def config_document(config: ConnectorConfig | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {
        "url": config.url,
        "secret_ref": config.secret_ref,
        "configured_at": config.configured_at,
        "configured_by": config.configured_by,
        "secret_rotated_at": config.secret_rotated_at,
    }


def config_from(document: Any) -> ConnectorConfig | None:
    if not isinstance(document, dict) or not document.get("url"):
        return None
    return ConnectorConfig(
        url=document["url"],
        secret_ref=document["secret_ref"],
        configured_at=document["configured_at"],
        configured_by=document["configured_by"],
        secret_rotated_at=document.get("secret_rotated_at") or document["configured_at"],
    )


class ConnectorCallStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["connector_calls"]
        self.attempts = TurnClaims(database["connector_attempts"])

    async def prepare(self) -> None:
        await ensure_outbox_index(self.collection)
        await self.collection.create_index(
            [("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"
        )
        await self.collection.create_index([("account_id", ASCENDING)], name="by_account")
        await self.collection.create_index([("person_id", ASCENDING)], name="by_person")
        await self.attempts.prepare()

    async def add(self, call: ConnectorCall) -> bool:
        """Record a new call; False if it exists (an event redelivered, another replica)."""
        try:
            await self.collection.insert_one(
                {**_state(call), **new_document_outbox(call.pending_events)}
            )
        except DuplicateKeyError:
            return False
        return True

    async def get(self, call_id: str) -> ConnectorCall:
        document = await self.collection.find_one({"_id": call_id}, {"outbox": 0})
        if document is None:
            raise NotFound(f"no connector call {call_id}", code="call_not_found")
        return _call(document)

    async def due(self, *, now: datetime, limit: int) -> list[ConnectorCall]:
        cursor = (
            self.collection.find(
                {"status": CallStatus.PENDING.value, "next_attempt_at": {"$lte": now}},
                {"outbox": 0},
            )
            .sort("next_attempt_at", ASCENDING)
            .limit(limit)
        )
        return [_call(d) for d in await cursor.to_list()]

    async def next_due_at(self) -> datetime | None:
        document = await self.collection.find_one(
            {"status": CallStatus.PENDING.value},
            {"next_attempt_at": 1},
            sort=[("next_attempt_at", ASCENDING)],
        )
        return document.get("next_attempt_at") if document else None

    async def save_attempt(self, call: ConnectorCall, *, turn: int) -> bool:
        """Store the outcome of attempt `turn`, unless a later attempt's holder has already
        written (this holder outlived its lease) or the call left `pending`."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), call.id):
            result = await self.collection.update_one(
                {"_id": call.id, "status": CallStatus.PENDING.value, "attempts": {"$lt": turn}},
                {"$set": {**_state(call), **outbox_fields(call.pending_events)}},
            )
        return result.matched_count == 1

    async def save_retry(self, call: ConnectorCall, *, expected_sequence: int) -> bool:
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), call.id):
            result = await self.collection.update_one(
                {
                    "_id": call.id,
                    "status": CallStatus.FAILED.value,
                    "sequence": expected_sequence,
                },
                {"$set": {**_state(call), **outbox_fields(call.pending_events)}},
            )
        return result.matched_count == 1

    async def search(
        self,
        scope: CallScope,
        *,
        status: CallStatus | None,
        account_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[ConnectorCall]:
        """Newest first (by request time, then id); `after` is the last id of a page."""
        clauses: list[dict[str, Any]] = []
        if not scope.sees_everything:
            assert scope.reader_units is not None
            clauses.append(
                {
                    "$or": [
                        {"account_id": {"$in": sorted(scope.owned_accounts)}},
                        {"account_unit_id": {"$in": sorted(scope.reader_units)}},
                    ]
                }
            )
        if status is not None:
            clauses.append({"status": status.value})
        if account_id:
            clauses.append({"account_id": account_id})
        if after:
            last = await self.collection.find_one({"_id": after}, {"requested_at": 1})
            if last is not None:
                at = last["requested_at"]
                clauses.append(
                    {
                        "$or": [
                            {"requested_at": {"$lt": at}},
                            {"requested_at": at, "_id": {"$lt": after}},
                        ]
                    }
                )
        query: dict[str, Any] = {"$and": clauses} if clauses else {}
        cursor = (
            self.collection.find(query, {"outbox": 0})
            .sort([("requested_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [_call(d) for d in await cursor.to_list()]

    async def counts_of(self, account_id: str) -> dict[str, int]:
        found = await self.collection.find({"account_id": account_id}, {"status": 1}).to_list()
        counts = Counter(d["status"] for d in found)
        return {s.value: counts.get(s.value, 0) for s in CallStatus}

    async def unacknowledged_revocations(self, person_ids: Sequence[str] | None) -> dict[str, int]:
        """Revoke calls not yet acknowledged (pending or failed), per person."""
        base: dict[str, Any] = {
            "action": ConnectorAction.REVOKE_ACCESS.value,
            "status": {"$ne": CallStatus.ACKNOWLEDGED.value},
        }
        counts: Counter[str] = Counter()
        if person_ids is None:
            found = await self.collection.find(base, {"person_id": 1}).to_list()
            counts.update(d["person_id"] for d in found if d.get("person_id"))
            return dict(counts)
        ids = list(dict.fromkeys(person_ids))
        for start in range(0, len(ids), IN_CHUNKS):
            found = await self.collection.find(
                {**base, "person_id": {"$in": ids[start : start + IN_CHUNKS]}}, {"person_id": 1}
            ).to_list()
            counts.update(d["person_id"] for d in found)
        return dict(counts)


def _state(call: ConnectorCall) -> dict[str, Any]:
    return {
        "_id": call.id,
        "account_id": call.account_id,
        "account_unit_id": call.account_unit_id,
        "network": call.network.value,
        "handle": call.handle,
        "action": call.action.value,
        "person_id": call.person_id,
        "grant_id": call.grant_id,
        "secret_id": call.secret_id,
        "role": call.role,
        "secret_kind": call.secret_kind,
        "reason": call.reason,
        "requested_at": call.requested_at,
        "status": call.status.value,
        "attempts": call.attempts,
        "attempts_before_retry": call.attempts_before_retry,
        "pending_since": call.pending_since,
        "next_attempt_at": call.next_attempt_at,
        "last_attempt_at": call.last_attempt_at,
        "last_error": call.last_error,
        "last_status_code": call.last_status_code,
        "acknowledged_at": call.acknowledged_at,
        "failed_at": call.failed_at,
    }


def _call(document: dict[str, Any]) -> ConnectorCall:
    return ConnectorCall(
        id=document["_id"],
        account_id=document["account_id"],
        account_unit_id=document["account_unit_id"],
        network=SocialNetwork(document["network"]),
        handle=document["handle"],
        action=ConnectorAction(document["action"]),
        person_id=document.get("person_id"),
        grant_id=document.get("grant_id"),
        secret_id=document.get("secret_id"),
        role=document.get("role"),
        secret_kind=document.get("secret_kind"),
        reason=document["reason"],
        requested_at=document["requested_at"],
        status=CallStatus(document["status"]),
        attempts=int(document.get("attempts", 0)),
        attempts_before_retry=int(document.get("attempts_before_retry", 0)),
        pending_since=document.get("pending_since"),
        next_attempt_at=document.get("next_attempt_at"),
        last_attempt_at=document.get("last_attempt_at"),
        last_error=document.get("last_error"),
        last_status_code=document.get("last_status_code"),
        acknowledged_at=document.get("acknowledged_at"),
        failed_at=document.get("failed_at"),
        sequence=int(document.get("sequence", 0)),
    )
