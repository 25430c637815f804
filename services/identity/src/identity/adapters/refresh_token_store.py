"""Refresh tokens in MongoDB, by hash; rotation and revocation as inserts.

FerretDB v1 loses concurrent updates of one document, so nothing here is updated in
place: consuming a token is inserting its child (`parent` is unique, so only one child
per token can ever exist), revoking a family is inserting its marker into
`revoked_refresh_families` (checked on every refresh), and a person's revocation deletes
their tokens. Expired documents are deleted by `sweep`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from identity.domain.sessions import RefreshToken


class RefreshTokenReused(Exception):
    """The token already has a child: it was used before."""


class RefreshTokenStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.tokens: AsyncCollection[dict[str, Any]] = database["refresh_tokens"]
        self.revoked_families: AsyncCollection[dict[str, Any]] = database[
            "revoked_refresh_families"
        ]

    async def prepare(self) -> None:
        await self.tokens.create_index(
            [("parent", ASCENDING)], unique=True, name="one_child_per_token"
        )
        await self.tokens.create_index([("person_id", ASCENDING)], name="by_person")
        await self.tokens.create_index([("expires_at", ASCENDING)], name="by_expiry")
        await self.revoked_families.create_index([("expires_at", ASCENDING)], name="by_expiry")

    async def add(self, token: RefreshToken) -> None:
        """Store a new token; for a child this is what consumes its parent."""
        try:
            await self.tokens.insert_one(_document(token))
        except DuplicateKeyError as exc:
            raise RefreshTokenReused(token.family_id) from exc

    async def get(self, token_hash: str) -> RefreshToken | None:
        document = await self.tokens.find_one({"_id": token_hash})
        return _token(document) if document else None

    async def family_revoked(self, family_id: str) -> bool:
        return await self.revoked_families.find_one({"_id": family_id}, {"_id": 1}) is not None

    async def revoke_family(
        self, token: RefreshToken, *, at: datetime, reason: str, until: datetime
    ) -> bool:
        """Revoke the family of `token` (kept until no token of it can be valid, `until`);
        True if this call revoked it, not an earlier one."""
        try:
            await self.revoked_families.insert_one(
                {
                    "_id": token.family_id,
                    "person_id": token.person_id,
                    "revoked_at": at,
                    "reason": reason,
                    "expires_at": until,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def revoke_person(self, person_id: str, *, started_before: datetime) -> int:
        """Delete the person's tokens of sessions started before `started_before`."""
        result = await self.tokens.delete_many(
            {"person_id": person_id, "family_started_at": {"$lt": started_before}}
        )
        return result.deleted_count

    async def sweep(self, now: datetime) -> None:
        await self.tokens.delete_many({"expires_at": {"$lte": now}})
        await self.revoked_families.delete_many({"expires_at": {"$lte": now}})


def _document(token: RefreshToken) -> dict[str, Any]:
    return {
        "_id": token.token_hash,
        "family_id": token.family_id,
        "person_id": token.person_id,
        "family_started_at": token.family_started_at,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "parent": token.parent,
    }


def _token(document: dict[str, Any]) -> RefreshToken:
    return RefreshToken(
        token_hash=document["_id"],
        family_id=document["family_id"],
        person_id=document["person_id"],
        family_started_at=document["family_started_at"],
        issued_at=document["issued_at"],
        expires_at=document["expires_at"],
        parent=document["parent"],
    )
