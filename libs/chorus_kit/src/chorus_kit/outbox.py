"""The transactional outbox: events live inside their aggregate's document until Kafka has them.

A domain write stores the new state and the events it causes in one single-document
write (no multi-document transactions exist on FerretDB). The relay publishes pending
events in aggregate order with an idempotent producer and only then removes them, so a
crash loses nothing committed, publishes nothing uncommitted, and a crash between the
broker's ack and the removal republishes the same event with the same id.

Document shape: `sequence` (last event's number), `outbox: {"e<sequence>": event}`,
`outbox_pending: bool` (indexed; what the relay scans). Events are keyed by sequence
rather than kept in an array because FerretDB v1 silently ignores `$pull` conditions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.propagate import extract
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from chorus_kit import metrics
from chorus_kit.events.catalogue import event_type
from chorus_kit.events.envelope import Event
from chorus_kit.faults import NO_FAULTS, FaultPoints
from chorus_kit.mongo import DOCUMENT_LOCKS, namespace_of

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

PENDING = "outbox_pending"
# FerretDB v1 (SQLite) hangs on write batches of 100 statements or more: stay well below.
WRITE_BATCH = 50


def _slot(sequence: int) -> str:
    return f"e{sequence:012d}"


def outbox_fields(events: Sequence[Event]) -> dict[str, Any]:
    """`$set` fields that append events to an existing aggregate's outbox."""
    if not events:
        return {}
    fields: dict[str, Any] = {f"outbox.{_slot(e.sequence)}": e.to_document() for e in events}
    fields[PENDING] = True
    fields["sequence"] = max(e.sequence for e in events)
    return fields


def new_document_outbox(events: Sequence[Event]) -> dict[str, Any]:
    """Fields of a new aggregate document carrying its first events."""
    return {
        "outbox": {_slot(e.sequence): e.to_document() for e in events},
        PENDING: bool(events),
        "sequence": max((e.sequence for e in events), default=0),
    }


async def ensure_outbox_index(collection: AsyncCollection[dict[str, Any]]) -> None:
    await collection.create_index([(PENDING, ASCENDING)], name="outbox_pending")


class OutboxRelay:
    """Publishes pending outbox events of some collections; one active relay per collection.

    Replicas compete for a lease per collection (a document in `relay_leases`), so one
    relay at a time publishes an aggregate's events and their order is kept.
    """

    def __init__(
        self,
        *,
        collections: Sequence[AsyncCollection[dict[str, Any]]],
        leases: AsyncCollection[dict[str, Any]],
        producer: AIOKafkaProducer,
        topic_prefix: str = "",
        poll_seconds: float = 0.2,
        lease_seconds: float = 10.0,
        batch_documents: int = 200,
        faults: FaultPoints = NO_FAULTS,
    ) -> None:
        self._collections = list(collections)
        self._leases = leases
        self._producer = producer
        self._prefix = topic_prefix
        self._poll = poll_seconds
        self._lease_for = timedelta(seconds=lease_seconds)
        self._batch = batch_documents
        self._faults = faults
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lease_until: dict[str, datetime] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called after a domain write so its events leave at once instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.1
        while True:
            try:
                published = 0
                for collection in self._collections:
                    if await self._hold_lease(collection):
                        published += await self._relay_round(collection)
                backoff = 0.1
                if published:
                    continue  # more may be waiting: drain before sleeping
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: keep the events, retry
                kind = "database" if isinstance(exc, PyMongoError) else type(exc).__name__
                metrics.OUTBOX_RELAY_ERRORS.labels(kind).inc()
                log.warning("outbox relay round failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            except TimeoutError:
                pass

    async def report_backlog(self, every_seconds: float = 5.0) -> None:
        """Keep the backlog gauge current (a count per collection, not per round)."""
        while True:
            try:
                for collection in self._collections:
                    pending = await collection.count_documents({PENDING: True})
                    metrics.OUTBOX_BACKLOG.labels(collection.name).set(pending)
            except PyMongoError:
                pass  # the database being away is /readyz's to report
            await asyncio.sleep(every_seconds)

    async def _hold_lease(self, collection: AsyncCollection[dict[str, Any]]) -> bool:
        key = f"{collection.database.name}.{collection.name}"
        now = datetime.now(UTC)
        held_until = self._lease_until.get(key)
        if held_until and held_until - now > self._lease_for / 2:
            return True  # renew only past half-life: one write per few seconds, not per round
        until = now + self._lease_for
        try:
            await self._leases.update_one(
                {"_id": key, "$or": [{"owner": self._owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": self._owner, "until": until}},
                upsert=True,
            )
        except DuplicateKeyError:
            self._lease_until.pop(key, None)
            return False  # another replica holds it
        self._lease_until[key] = until
        return True

    def _lease_valid(self, collection: AsyncCollection[dict[str, Any]]) -> bool:
        key = f"{collection.database.name}.{collection.name}"
        until = self._lease_until.get(key)
        return until is not None and until > datetime.now(UTC) + timedelta(seconds=1)

    async def _relay_round(self, collection: AsyncCollection[dict[str, Any]]) -> int:
        docs = await collection.find(
            {PENDING: True}, {"outbox": 1, "sequence": 1}, limit=self._batch
        ).to_list()
        if not docs:
            return 0
        await self._faults.reach("relay.before_publish")
        if not self._lease_valid(collection):
            return 0
        # Send everything first (pipelined), then await the acks; per-aggregate order holds
        # because one producer sends a key's events in order to one partition.
        pending: list[tuple[dict[str, Any], list[str], asyncio.Future[Any]]] = []
        for doc in docs:
            slots = sorted((doc.get("outbox") or {}).keys())
            futures = []
            for slot in slots:
                event = Event.from_document(doc["outbox"][slot])
                futures.append(await self._send(event))
            pending.append((doc, slots, asyncio.gather(*futures)))
        await asyncio.gather(*(f for _, _, f in pending))
        await self._faults.reach("relay.after_publish")
        await self._mark_published(collection, [(doc, slots) for doc, slots, _ in pending])
        return sum(len(slots) for _, slots, _ in pending)

    async def _send(self, event: Event) -> asyncio.Future[Any]:
        topic = event_type(event.type).topic.physical(self._prefix)
        key, value, headers = event.to_kafka()
        context = extract({"traceparent": event.traceparent}) if event.traceparent else None
        with tracer.start_as_current_span(
            f"publish {event.type}", context=context, kind=trace.SpanKind.PRODUCER
        ):
            future: asyncio.Future[Any] = await self._producer.send(
                topic, value=value, key=key, headers=headers
            )
        metrics.OUTBOX_PUBLISHED.labels(topic).inc()
        return future

    async def _mark_published(
        self,
        collection: AsyncCollection[dict[str, Any]],
        published: list[tuple[dict[str, Any], list[str]]],
    ) -> None:
        for start in range(0, len(published), WRITE_BATCH):
            chunk = published[start : start + WRITE_BATCH]
            async with DOCUMENT_LOCKS.hold(
                namespace_of(collection), *(doc["_id"] for doc, _ in chunk)
            ):
                await self._clear_sent(collection, chunk)

    async def _clear_sent(
        self,
        collection: AsyncCollection[dict[str, Any]],
        chunk: list[tuple[dict[str, Any], list[str]]],
    ) -> None:
        # Clear the pending flag only where no newer event arrived meanwhile (the sequence
        # is unchanged); unsetting exactly the slots we sent never loses one.
        result = await collection.bulk_write(
            [
                UpdateOne(
                    {"_id": doc["_id"], "sequence": doc.get("sequence")},
                    {"$unset": {f"outbox.{s}": "" for s in slots}, "$set": {PENDING: False}},
                )
                for doc, slots in chunk
            ],
            ordered=False,
        )
        if result.matched_count < len(chunk):
            # Some aggregates moved on: remove what was sent, keep them pending.
            await collection.bulk_write(
                [
                    UpdateOne({"_id": doc["_id"]}, {"$unset": {f"outbox.{s}": "" for s in slots}})
                    for doc, slots in chunk
                ],
                ordered=False,
            )
