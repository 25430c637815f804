"""The vault in MongoDB: `secrets` (every version, sealed) and `leases` (every check-out).

Each write stores the new state and its events (and audit entry) in one document; the
outbox rides inside it. Sealed values are stored as binary and never leave this module
except as `Sealed`, which only the envelope can open.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from access.domain.vault import (
    Lease,
    LeaseStatus,
    RotationFlag,
    Sealed,
    Secret,
    SecretVersion,
    TotpAlgorithm,
    TotpParameters,
)
from chorus_kit.errors import Conflict, NotFound
from chorus_kit.events.access import SecretKind
from chorus_kit.mongo import DOCUMENT_LOCKS, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields

MongoDocument = dict[str, Any]


class SecretStore:
    def __init__(self, database: AsyncDatabase[MongoDocument]) -> None:
        self.collection: AsyncCollection[MongoDocument] = database["secrets"]

    async def prepare(self) -> None:
        await self.collection.create_index([("account_id", ASCENDING)], name="by_account")
        await self.collection.create_index(
            [("rotation_required", ASCENDING)], name="by_rotation_required"
        )
        await ensure_outbox_index(self.collection)

    async def find(self, secret_id: str) -> Secret | None:
        document = await self.collection.find_one({"_id": secret_id}, {"outbox": 0})
        return _secret(document) if document else None

    async def get(self, secret_id: str) -> Secret:
        secret = await self.find(secret_id)
        if secret is None:
            raise NotFound("no such secret on this account", code="secret_not_found")
        return secret

    async def get_many(self, secret_ids: Collection[str]) -> list[Secret]:
        found = await self.collection.find(
            {"_id": {"$in": sorted(secret_ids)}}, {"outbox": 0}
        ).to_list()
        return [_secret(d) for d in found]

    async def for_account(self, account_id: str) -> list[Secret]:
        cursor = self.collection.find({"account_id": account_id}, {"outbox": 0}).sort(
            "_id", ASCENDING
        )
        return [_secret(d) for d in await cursor.to_list()]

    async def not_flagged(self) -> list[tuple[str, str, datetime]]:
        """(secret id, account id, rotated at) of every secret not already due for rotation."""
        cursor = self.collection.find(
            {"rotation_required": False}, {"_id": 1, "account_id": 1, "rotated_at": 1}
        )
        return [(d["_id"], d["account_id"], d["rotated_at"]) for d in await cursor.to_list()]

    async def add(self, secret: Secret) -> None:
        document = {**_secret_state(secret), **new_document_outbox(secret.pending_events)}
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError as exc:
            raise Conflict("the secret changed meanwhile; retry", code="concurrent_change") from exc

    async def save(self, secret: Secret, *, expected_sequence: int) -> None:
        """Store a change and its events if nobody changed the secret meanwhile."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), secret.id):
            result = await self.collection.update_one(
                {"_id": secret.id, "sequence": expected_sequence},
                {"$set": {**_secret_state(secret), **outbox_fields(secret.pending_events)}},
            )
        if result.matched_count == 0:
            raise Conflict("the secret changed meanwhile; retry", code="concurrent_change")


class LeaseStore:
    def __init__(self, database: AsyncDatabase[MongoDocument]) -> None:
        self.collection: AsyncCollection[MongoDocument] = database["leases"]

    async def prepare(self) -> None:
        await self.collection.create_index(
            [("status", ASCENDING), ("expires_at", ASCENDING)], name="open_by_expiry"
        )
        await self.collection.create_index(
            [("holder_id", ASCENDING), ("checked_out_at", DESCENDING)], name="by_holder"
        )
        await self.collection.create_index(
            [("account_id", ASCENDING), ("checked_out_at", DESCENDING)], name="by_account"
        )
        await self.collection.create_index(
            [("rotation_flag_pending", ASCENDING)], name="rotation_flag_pending"
        )
        await ensure_outbox_index(self.collection)

    async def add(self, lease: Lease) -> None:
        await self.collection.insert_one(
            {**_lease_state(lease), **new_document_outbox(lease.pending_events)}
        )

    async def get(self, lease_id: str) -> Lease:
        document = await self.collection.find_one({"_id": lease_id}, {"outbox": 0})
        if document is None:
            raise NotFound(f"no lease {lease_id}", code="lease_not_found")
        return _lease(document)

    async def save(self, lease: Lease, *, expected_sequence: int) -> None:
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), lease.id):
            result = await self.collection.update_one(
                {"_id": lease.id, "sequence": expected_sequence},
                {"$set": {**_lease_state(lease), **outbox_fields(lease.pending_events)}},
            )
        if result.matched_count == 0:
            raise Conflict("the lease changed meanwhile; retry", code="concurrent_change")

    async def overdue(self, now: datetime, *, limit: int = 200) -> list[Lease]:
        cursor = (
            self.collection.find(
                {"status": LeaseStatus.OPEN.value, "expires_at": {"$lte": now}}, {"outbox": 0}
            )
            .sort("expires_at", ASCENDING)
            .limit(limit)
        )
        return [_lease(d) for d in await cursor.to_list()]

    async def with_rotation_flag_pending(self, *, limit: int = 200) -> list[Lease]:
        cursor = self.collection.find({"rotation_flag_pending": True}, {"outbox": 0}).limit(limit)
        return [_lease(d) for d in await cursor.to_list()]

    async def open_of(self, holder_id: str, *, account_ids: Collection[str] | None) -> list[Lease]:
        query: MongoDocument = {"holder_id": holder_id, "status": LeaseStatus.OPEN.value}
        if account_ids is not None:
            query["account_id"] = {"$in": sorted(account_ids)}
        return [_lease(d) for d in await self.collection.find(query, {"outbox": 0}).to_list()]

    async def ended_by(self, holder_id: str, *, offboarding_id: str) -> list[Lease]:
        query = {"holder_id": holder_id, "offboarding_id": offboarding_id}
        return [_lease(d) for d in await self.collection.find(query, {"outbox": 0}).to_list()]

    async def checked_out_by(
        self, holder_id: str, *, since: datetime, account_ids: Collection[str] | None
    ) -> list[Lease]:
        query: MongoDocument = {"holder_id": holder_id, "checked_out_at": {"$gte": since}}
        if account_ids is not None:
            query["account_id"] = {"$in": sorted(account_ids)}
        return [_lease(d) for d in await self.collection.find(query, {"outbox": 0}).to_list()]

    async def of_holders(
        self, holder_ids: Collection[str], *, status: LeaseStatus | None
    ) -> list[Lease]:
        """The leases of many people, newest first (one query)."""
        query: MongoDocument = {"holder_id": {"$in": sorted(holder_ids)}}
        if status:
            query["status"] = status.value
        cursor = self.collection.find(query, {"outbox": 0}).sort(
            [("checked_out_at", DESCENDING), ("_id", DESCENDING)]
        )
        return [_lease(d) for d in await cursor.to_list()]

    async def history(
        self,
        account_id: str,
        *,
        holder_id: str | None = None,
        status: LeaseStatus | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[Lease]:
        """An account's leases, newest first (keyset pagination on check-out time and id)."""
        clauses: list[MongoDocument] = [{"account_id": account_id}]
        if holder_id:
            clauses.append({"holder_id": holder_id})
        if status:
            clauses.append({"status": status.value})
        if before:
            at, lease_id = before
            clauses.append(
                {
                    "$or": [
                        {"checked_out_at": {"$lt": at}},
                        {"checked_out_at": at, "_id": {"$lt": lease_id}},
                    ]
                }
            )
        cursor = (
            self.collection.find({"$and": clauses}, {"outbox": 0})
            .sort([("checked_out_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [_lease(d) for d in await cursor.to_list()]


# --- documents ----------------------------------------------------------------------------------
def _secret_state(secret: Secret) -> MongoDocument:
    return {
        "_id": secret.id,
        "account_id": secret.account_id,
        "account_unit_id": secret.account_unit_id,
        "kind": secret.kind.value,
        "versions": [
            {
                "version": v.number,
                "created_at": v.created_at,
                "created_by": v.created_by,
                "ciphertext": v.sealed.ciphertext,
                "wrapped_key": v.sealed.wrapped_key,
                "key_id": v.sealed.key_id,
                "algorithm": v.sealed.algorithm,
            }
            for v in secret.versions
        ],
        "current_version": secret.current.number,
        # Top level, for the periodic maximum-age check to read without the versions.
        "rotated_at": secret.rotated_at,
        "totp": (
            {
                "digits": secret.totp.digits,
                "period_seconds": secret.totp.period_seconds,
                "algorithm": secret.totp.algorithm.value,
            }
            if secret.totp
            else None
        ),
        "rotation_required": secret.rotation_required,
        "rotation_flags": [
            {
                "reason": f.reason,
                "person_id": f.person_id,
                "flagged_at": f.flagged_at,
                "version": f.version,
                "offboarding_id": f.offboarding_id,
            }
            for f in secret.rotation_flags
        ],
        "flag_keys": list(secret.flag_keys),
        "created_at": secret.created_at,
    }


def _secret(document: MongoDocument) -> Secret:
    totp = document.get("totp")
    return Secret(
        id=document["_id"],
        account_id=document["account_id"],
        account_unit_id=document["account_unit_id"],
        kind=SecretKind(document["kind"]),
        versions=tuple(
            SecretVersion(
                number=int(v["version"]),
                created_at=v["created_at"],
                created_by=v["created_by"],
                sealed=Sealed(
                    ciphertext=bytes(v["ciphertext"]),
                    wrapped_key=bytes(v["wrapped_key"]),
                    key_id=v["key_id"],
                    algorithm=v["algorithm"],
                ),
            )
            for v in document["versions"]
        ),
        totp=(
            TotpParameters(
                digits=int(totp["digits"]),
                period_seconds=int(totp["period_seconds"]),
                algorithm=TotpAlgorithm(totp["algorithm"]),
            )
            if totp
            else None
        ),
        rotation_flags=tuple(
            RotationFlag(
                reason=f["reason"],
                person_id=f.get("person_id"),
                flagged_at=f["flagged_at"],
                version=int(f["version"]),
                offboarding_id=f.get("offboarding_id"),
            )
            for f in document.get("rotation_flags") or ()
        ),
        flag_keys=tuple(document.get("flag_keys") or ()),
        created_at=document.get("created_at"),
        sequence=int(document.get("sequence", 0)),
    )


def _lease_state(lease: Lease) -> MongoDocument:
    return {
        "_id": lease.id,
        "account_id": lease.account_id,
        "account_unit_id": lease.account_unit_id,
        "secret_id": lease.secret_id,
        "kind": lease.kind.value,
        "version": lease.version,
        "holder_id": lease.holder_id,
        "checked_out_at": lease.checked_out_at,
        "expires_at": lease.expires_at,
        "grant_id": lease.grant_id,
        "status": lease.status.value,
        "ended_at": lease.ended_at,
        "ended_because": lease.ended_because,
        "ended_by": lease.ended_by,
        "offboarding_id": lease.offboarding_id,
        "rotation_flag_pending": lease.rotation_flag_pending,
    }


def _lease(document: MongoDocument) -> Lease:
    return Lease(
        id=document["_id"],
        account_id=document["account_id"],
        account_unit_id=document["account_unit_id"],
        secret_id=document["secret_id"],
        kind=SecretKind(document["kind"]),
        version=int(document["version"]),
        holder_id=document["holder_id"],
        checked_out_at=document["checked_out_at"],
        expires_at=document["expires_at"],
        grant_id=document.get("grant_id"),
        ended_at=document.get("ended_at"),
        ended_because=document.get("ended_because"),
        ended_by=document.get("ended_by"),
        offboarding_id=document.get("offboarding_id"),
        rotation_flag_pending=bool(document.get("rotation_flag_pending")),
        sequence=int(document.get("sequence", 0)),
    )
