"""MongoDB access shared by services: the async client and applying an event exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from chorus_kit import metrics
from chorus_kit.settings import ServiceSettings

MongoDocument = dict[str, Any]
# Ids per `$in` query (the local FerretDB narrows an `$in` of up to 500 ids to its `_id`
# index), statements per bulk. Every store chunks by it.
IN_CHUNKS = 500


class DocumentLocks:
    """Serialises this process's writes to any one document.

    FerretDB v1 applies an update as a find followed by a whole-document replace, with no
    isolation between the two: concurrent writes to one document lose each other (measured
    here: 1,000 concurrent `$inc` on one document left it at 16), and a conditional update
    can act on a condition that no longer holds. MongoDB applies each single-document write
    atomically, so there the lock only costs an uncontended acquire. Every write to an
    aggregate document that another task of the process may also write (a domain write,
    the outbox relay marking events sent) holds the document's lock.
    """

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._holders: dict[Hashable, int] = {}

    @asynccontextmanager
    async def hold(self, namespace: str, *ids: Hashable) -> AsyncIterator[None]:
        keys = sorted({(namespace, i) for i in ids}, key=repr)  # one order: no deadlock
        acquired: list[tuple[str, Hashable]] = []
        try:
            for key in keys:
                lock = self._locks.setdefault(key, asyncio.Lock())
                self._holders[key] = self._holders.get(key, 0) + 1
                acquired.append(key)
                await lock.acquire()
            yield
        finally:
            for key in reversed(acquired):
                lock = self._locks[key]
                if lock.locked():
                    lock.release()
                self._holders[key] -= 1
                if self._holders[key] == 0:
                    del self._holders[key], self._locks[key]


# One per process: the relay and the stores must share it to exclude each other.
DOCUMENT_LOCKS = DocumentLocks()


def namespace_of(collection: AsyncCollection[MongoDocument]) -> str:
    return f"{collection.database.name}.{collection.name}"


def database_reachable(database: AsyncDatabase[MongoDocument]) -> Callable[[], Awaitable[None]]:
    """A readiness check: the service's database answers a ping."""

    async def ping() -> None:
        await database.command("ping")

    return ping


def create_client(settings: ServiceSettings) -> AsyncMongoClient[MongoDocument]:
    return AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        tz_aware=True,
        serverSelectionTimeoutMS=5_000,
        appname=settings.service_name,
        event_listeners=[WriteCounter()],
    )


class WriteCounter(monitoring.CommandListener):
    """Counts the writes a process makes (the benchmarks' "database writes it needed")."""

    WRITES = frozenset({"insert", "update", "delete", "findAndModify"})

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name in self.WRITES:
            metrics.DB_WRITE_COMMANDS.labels(event.command_name).inc()
            written = event.reply.get("n", 0)
            if isinstance(written, int):
                metrics.DB_WRITTEN_DOCUMENTS.labels(event.command_name).inc(written)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def apply_in_order(
    collection: AsyncCollection[MongoDocument],
    *,
    aggregate_id: str,
    sequence: int,
    update: dict[str, Any],
) -> bool:
    """Apply one event's effect to a view document unless it was applied already.

    The filter only matches while the view's `last_sequence` is below the event's, and the
    update raises it, in one single-document write: a redelivered (or older) event changes
    nothing. On a first event the upsert inserts; if the document exists with a newer
    sequence the upsert collides on `_id`, which means "already applied".
    """
    update = _with_sequence(update, sequence)
    first = _as_new_document(aggregate_id, update) if sequence == 1 else None
    try:
        if first is not None:
            # An aggregate's first event creates its view: a plain insert, atomic through
            # the unique _id (and cheaper than an upsert's query on every database).
            await collection.insert_one(first)
            return True
        result = await collection.update_one(
            {"_id": aggregate_id, "last_sequence": {"$lt": sequence}}, update, upsert=True
        )
    except DuplicateKeyError:
        return False
    return result.modified_count == 1 or result.upserted_id is not None


def is_duplicate_key(exc: OperationFailure) -> bool:
    """A unique index refused the write. MongoDB says 11000; FerretDB v1 says so on
    inserts but reports an update's violation as an InternalError naming SQLite's UNIQUE."""
    return exc.code == DUPLICATE_KEY or "UNIQUE constraint failed" in str(exc)


ViewEffect = tuple[str, int, dict[str, Any]]  # (aggregate id, event sequence, update)
DUPLICATE_KEY = 11000


async def apply_many_in_order(
    collection: AsyncCollection[MongoDocument],
    effects: Sequence[ViewEffect],
    *,
    existing: Collection[str] | None = None,
) -> int:
    """`apply_in_order` for a batch of events, in a few statements; returns how many applied.

    First events become one `insert_many`; later events on documents that exist one bulk of
    conditional updates, the others (a view starting mid-history) an upsert each. An
    aggregate seen twice in the batch starts a new round, so its events apply in order.
    `existing`: aggregates the caller read as present (not read again); None: read here.
    """
    applied = 0
    present = set(existing) if existing is not None else None
    for run in _runs_without_repeats(effects):
        inserts: list[MongoDocument] = []
        later: list[ViewEffect] = []
        for aggregate_id, sequence, update in run:
            first = (
                _as_new_document(aggregate_id, _with_sequence(update, sequence))
                if sequence == 1
                else None
            )
            if first is not None:
                inserts.append(first)
            else:
                later.append((aggregate_id, sequence, update))
        if inserts:
            try:
                applied += len((await collection.insert_many(inserts, ordered=False)).inserted_ids)
            except BulkWriteError as exc:
                applied += _count_applied(exc, "nInserted")
        if later:
            applied += await _apply_later(collection, later, present)
        if present is not None:
            present.update(a for a, _, _ in run)  # every one of them has its document now
    return applied


async def _apply_later(
    collection: AsyncCollection[MongoDocument],
    later: Sequence[ViewEffect],
    present: set[str] | None,
) -> int:
    """Events after an aggregate's first (each aggregate once). Documents that exist take
    them in one bulk of updates, each conditional on the sequence: one command instead of
    one per event (10,000 departures at once were 10,000 round trips and write locks).
    Views are never deleted, so "exists" holds once read. An upsert is needed only where
    the document is missing, and not in bulk: against FerretDB v1 a bulk of upserts that
    hits a duplicate `_id` answers without `nModified`, and PyMongo fails merging it."""
    ids = [a for a, _, _ in later]
    if present is None:
        present = set()
        for start in range(0, len(ids), IN_CHUNKS):
            chunk = ids[start : start + IN_CHUNKS]
            found = collection.find({"_id": {"$in": chunk}}, {"_id": 1})
            present.update(d["_id"] for d in await found.to_list())
    updates = [
        UpdateOne({"_id": a, "last_sequence": {"$lt": n}}, _with_sequence(u, n))
        for a, n, u in later
        if a in present
    ]
    applied = 0
    # The other consumers of this process writing the same documents wait (FerretDB v1
    # does not isolate a conditional update's read from its write; see DocumentLocks).
    async with DOCUMENT_LOCKS.hold(namespace_of(collection), *ids):
        for start in range(0, len(updates), IN_CHUNKS):
            result = await collection.bulk_write(updates[start : start + IN_CHUNKS], ordered=False)
            applied += result.modified_count
        outcomes = await asyncio.gather(
            *(
                apply_in_order(collection, aggregate_id=a, sequence=n, update=u)
                for a, n, u in later
                if a not in present
            )
        )
    return applied + sum(outcomes)


def _with_sequence(update: dict[str, Any], sequence: int) -> dict[str, Any]:
    return {**update, "$set": {**update.get("$set", {}), "last_sequence": sequence}}


async def insert_new(
    collection: AsyncCollection[MongoDocument], documents: Sequence[MongoDocument]
) -> set[Any]:
    """Insert the documents in one unordered insert; the `_id`s refused as present already
    (written by an earlier delivery, or another writer). Any other write error is raised."""
    if not documents:
        return set()
    try:
        await collection.insert_many(list(documents), ordered=False)
    except BulkWriteError as exc:
        return {documents[index]["_id"] for index in _duplicate_indexes(exc)}
    return set()


def _count_applied(exc: BulkWriteError, counter: str) -> int:
    """A duplicate `_id` means "already applied"; any other write error is raised."""
    _duplicate_indexes(exc)
    return int(exc.details.get(counter, 0))


def _duplicate_indexes(exc: BulkWriteError) -> list[int]:
    """Where a bulk was refused, if only for duplicate keys; otherwise `exc` is raised."""
    errors = exc.details.get("writeErrors", [])
    if any(e.get("code") != DUPLICATE_KEY for e in errors):
        raise exc
    return [int(e["index"]) for e in errors]


def _runs_without_repeats(effects: Sequence[ViewEffect]) -> list[list[ViewEffect]]:
    runs: list[list[ViewEffect]] = [[]]
    seen: set[str] = set()
    for effect in effects:
        if effect[0] in seen:
            runs.append([])
            seen = set()
        runs[-1].append(effect)
        seen.add(effect[0])
    return [r for r in runs if r]


def _as_new_document(aggregate_id: str, update: dict[str, Any]) -> MongoDocument | None:
    """The document an update would create from nothing, if it only uses $set and $push."""
    if set(update) - {"$set", "$push"}:
        return None
    pushes = update.get("$push", {})
    if any(isinstance(v, dict) and any(k.startswith("$") for k in v) for v in pushes.values()):
        return None  # $each and friends: leave it to the server
    if any("." in k for k in [*update.get("$set", {}), *pushes]):
        return None
    return {"_id": aggregate_id, **update.get("$set", {}), **{k: [v] for k, v in pushes.items()}}
