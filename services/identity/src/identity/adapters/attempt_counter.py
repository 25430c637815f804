"""Failed sign-in attempts in MongoDB, shared by every replica: one document per attempt.

Why documents per attempt rather than a counter: FerretDB v1 runs an update as a read
followed by a replace without isolation, so concurrent `$inc`s on one counter lose each
other (measured: 1,000 → 16), and an in-process lock would not hold across replicas.
Inserts never conflict, and counting the documents of a key in its window is exact on
both MongoDB and FerretDB. An attempt is inserted *before* its password is checked
(`pending`), so concurrent guesses see each other; a success deletes it, a failure
turns it into a failure (only its own request writes it). Burst markers are inserts too:
whoever creates a bucket's marker is the one who audits.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from identity.domain.sessions import Attempt


class AttemptCounter:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.attempts: AsyncCollection[dict[str, Any]] = database["signin_attempts"]
        self.bursts: AsyncCollection[dict[str, Any]] = database["signin_bursts"]

    async def prepare(self) -> None:
        await self.attempts.create_index([("key", ASCENDING), ("at", ASCENDING)], name="by_key")
        await self.attempts.create_index([("at", ASCENDING)], name="by_time")
        await self.bursts.create_index([("at", ASCENDING)], name="by_time")

    async def reserve(self, key: str, *, at: datetime) -> str:
        """An attempt about to be checked; counts for others at once."""
        attempt_id = str(uuid.uuid4())
        await self.attempts.insert_one({"_id": attempt_id, "key": key, "at": at, "pending": True})
        return attempt_id

    async def record_failure(self, key: str, *, at: datetime) -> None:
        await self.attempts.insert_one(
            {"_id": str(uuid.uuid4()), "key": key, "at": at, "pending": False}
        )

    async def mark_failed(self, attempt_id: str) -> None:
        await self.attempts.update_one({"_id": attempt_id}, {"$set": {"pending": False}})

    async def forget(self, *attempt_ids: str) -> None:
        if attempt_ids:
            await self.attempts.delete_many({"_id": {"$in": list(attempt_ids)}})

    async def clear(self, key: str) -> None:
        """A success resets the account: earlier typos stop counting against its owner."""
        await self.attempts.delete_many({"key": key})

    async def attempts_since(
        self, key: str, since: datetime, *, excluding: str | None = None
    ) -> list[Attempt]:
        query: dict[str, Any] = {"key": key, "at": {"$gt": since}}
        if excluding:
            query["_id"] = {"$ne": excluding}
        found = await self.attempts.find(query, {"at": 1, "pending": 1}).to_list()
        return [Attempt(at=d["at"], pending=bool(d.get("pending"))) for d in found]

    async def start_burst(self, key: str, bucket: int, *, at: datetime) -> bool:
        """Mark `key` as throttled in `bucket`; True if this starts a new burst (the caller
        audits it): this call created the bucket's marker and the previous bucket has none."""
        try:
            await self.bursts.insert_one({"_id": f"{key}|{bucket}", "key": key, "at": at})
        except DuplicateKeyError:
            return False
        return await self.bursts.find_one({"_id": f"{key}|{bucket - 1}"}, {"_id": 1}) is None

    async def sweep(self, now: datetime, *, keep: timedelta) -> None:
        """Forget attempts and burst markers older than `keep` (the longest window, twice)."""
        await self.attempts.delete_many({"at": {"$lt": now - keep}})
        await self.bursts.delete_many({"at": {"$lt": now - keep}})
