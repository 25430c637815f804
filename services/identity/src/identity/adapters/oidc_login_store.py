"""OIDC sign-ins in progress (state → nonce and PKCE verifier), short-lived and single use.

Stored by the SHA-256 of the state. Using one is an insert into `oidc_logins_used` by the
same id, atomic through the unique `_id` on MongoDB and FerretDB alike: a callback
replayed, even concurrently, finds the state used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


@dataclass(frozen=True)
class OidcLogin:
    nonce: str
    code_verifier: str
    expires_at: datetime


def _state_id(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class OidcLoginStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.logins: AsyncCollection[dict[str, Any]] = database["oidc_logins"]
        self.used: AsyncCollection[dict[str, Any]] = database["oidc_logins_used"]

    async def prepare(self) -> None:
        await self.logins.create_index([("expires_at", ASCENDING)], name="by_expiry")
        await self.used.create_index([("expires_at", ASCENDING)], name="by_expiry")

    async def add(self, state: str, login: OidcLogin) -> None:
        await self.logins.insert_one(
            {
                "_id": _state_id(state),
                "nonce": login.nonce,
                "code_verifier": login.code_verifier,
                "expires_at": login.expires_at,
            }
        )

    async def take(self, state: str, *, now: datetime) -> OidcLogin | None:
        """The sign-in `state` names, once: None if unknown, expired or already used."""
        state_id = _state_id(state)
        document = await self.logins.find_one({"_id": state_id})
        if document is None or document["expires_at"] <= now:
            return None
        try:
            await self.used.insert_one({"_id": state_id, "expires_at": document["expires_at"]})
        except DuplicateKeyError:
            return None
        await self.logins.delete_one({"_id": state_id})
        return OidcLogin(
            nonce=document["nonce"],
            code_verifier=document["code_verifier"],
            expires_at=document["expires_at"],
        )

    async def sweep(self, now: datetime) -> None:
        await self.logins.delete_many({"expires_at": {"$lte": now}})
        await self.used.delete_many({"expires_at": {"$lte": now}})
