"""What the vault reads of accounts: their unit, status and rotation policy. The collection
belongs to the access core; the vault reads only the fields the access brief fixes."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from chorus_kit.errors import NotFound

MongoDocument = dict[str, Any]


@dataclass(frozen=True)
class AccountFacts:
    id: str
    unit_id: str
    status: str
    rotate_after_checkout: bool
    secret_max_age_days: int | None

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class AccountDirectory:
    def __init__(self, database: AsyncDatabase[MongoDocument]) -> None:
        self.accounts: AsyncCollection[MongoDocument] = database["accounts"]

    async def account(self, account_id: str) -> AccountFacts:
        document = await self.accounts.find_one({"_id": account_id}, _ACCOUNT_FIELDS)
        if document is None:
            raise NotFound(f"no account {account_id}", code="account_not_found")
        return _facts(document)

    async def accounts_by_id(self, account_ids: Collection[str]) -> dict[str, AccountFacts]:
        found = await self.accounts.find(
            {"_id": {"$in": sorted(account_ids)}}, _ACCOUNT_FIELDS
        ).to_list()
        return {d["_id"]: _facts(d) for d in found}


_ACCOUNT_FIELDS = {
    "unit_id": 1,
    "status": 1,
    "rotate_after_checkout": 1,
    "secret_max_age_days": 1,
}


def _facts(document: MongoDocument) -> AccountFacts:
    max_age = document.get("secret_max_age_days")
    return AccountFacts(
        id=document["_id"],
        unit_id=document["unit_id"],
        status=document.get("status", "active"),
        rotate_after_checkout=bool(document.get("rotate_after_checkout")),
        secret_max_age_days=int(max_age) if max_age else None,
    )
