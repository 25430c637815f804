"""MongoDB access shared by services: the async client and applying an event exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from chorus_kit import metrics
from chorus_kit.settings import ServiceSettings

MongoDocument = dict[str, Any]


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
    update = {**update, "$set": {**update.get("$set", {}), "last_sequence": sequence}}
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
    collection: AsyncCollection[MongoDocument], effects: Sequence[ViewEffect]
) -> int:
    """`apply_in_order` for a batch of events, in a few statements; returns how many applied.

    First events become one `insert_many`, the others conditional upserts in bulk; an
    aggregate seen twice in the batch starts a new round, so its events apply in order.
    """
    applied = 0
    for run in _runs_without_repeats(effects):
        inserts: list[MongoDocument] = []
        later: list[ViewEffect] = []
        for aggregate_id, sequence, update in run:
            with_sequence = {
                **update,
                "$set": {**update.get("$set", {}), "last_sequence": sequence},
            }
            first = _as_new_document(aggregate_id, with_sequence) if sequence == 1 else None
            if first is not None:
                inserts.append(first)
            else:
                later.append((aggregate_id, sequence, update))
        if inserts:
            try:
                applied += len((await collection.insert_many(inserts, ordered=False)).inserted_ids)
            except BulkWriteError as exc:
                applied += _count_applied(exc, "nInserted")
        # Later events one statement each, concurrently (a run holds each aggregate once).
        # Not bulk_write: against FerretDB v1 a bulk of upserts that hits a duplicate `_id`
        # answers without `nModified`, and PyMongo fails merging the result.
        outcomes = await asyncio.gather(
            *(apply_in_order(collection, aggregate_id=a, sequence=n, update=u) for a, n, u in later)
        )
        applied += sum(outcomes)
    return applied


def _count_applied(exc: BulkWriteError, counter: str) -> int:
    """A duplicate `_id` means "already applied"; any other write error is raised."""
    others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
    if others:
        raise exc
    return int(exc.details.get(counter, 0))


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
