"""`grant_holdings`: which grants each person has ever held, one document per person.

Why it exists: the leaver flow must find every grant of a person at once, and FerretDB v1
answers any filter but `_id` by scanning the whole collection (~0.1 ms per document here:
seconds for a large `grants`). A document per person keyed by their id is read by `_id`.
An entry is written *before* its grant (`GrantStore.add`), so no grant exists without one;
an entry whose grant insert then failed points at nothing and is skipped by the reader.
Entries are never removed: a closed grant is recognised by reading the grant itself.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from chorus_kit.mongo import DOCUMENT_LOCKS, IN_CHUNKS, namespace_of

log = logging.getLogger(__name__)

# A document that says the index was built from every grant (databases older than it).
BUILT = "__built__"


class GrantHoldings:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["grant_holdings"]

    async def record(self, *, holder_id: str, grant_id: str, account_id: str) -> None:
        """Note that `holder_id` holds (or is about to hold) `grant_id`."""
        # One writer per person's document in this process: FerretDB v1 loses concurrent
        # updates of one document.
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), holder_id):
            await self.collection.update_one(
                {"_id": holder_id}, {"$set": {f"grants.{grant_id}": account_id}}, upsert=True
            )

    async def held_by(self, person_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """Every grant each person ever held, as grant id → account id (empty for nobody)."""
        ids = list(dict.fromkeys(person_ids))
        found: dict[str, dict[str, str]] = {i: {} for i in ids}
        for start in range(0, len(ids), IN_CHUNKS):
            cursor = self.collection.find({"_id": {"$in": ids[start : start + IN_CHUNKS]}})
            for document in await cursor.to_list():
                found[document["_id"]] = dict(document.get("grants") or {})
        return found

    async def build_if_missing(self, grants: AsyncCollection[dict[str, Any]]) -> int:
        """Index grants that predate the index (once per database; a scan of `grants`)."""
        if await self.collection.find_one({"_id": BUILT}, {"_id": 1}):
            return 0
        by_holder: dict[str, dict[str, str]] = defaultdict(dict)
        async for grant in grants.find({}, {"holder_id": 1, "account_id": 1}):
            by_holder[grant["holder_id"]][grant["_id"]] = grant["account_id"]
        for holder_id, held in by_holder.items():
            async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), holder_id):
                await self.collection.update_one(
                    {"_id": holder_id},
                    {"$set": {f"grants.{g}": a for g, a in held.items()}},
                    upsert=True,
                )
        await self.collection.update_one({"_id": BUILT}, {"$set": {"built": True}}, upsert=True)
        if by_holder:
            log.info("grant holdings indexed", extra={"people": len(by_holder)})
        return len(by_holder)
