"""The transactional outbox: events live inside their aggregate's document until Kafka has them.

A domain write stores the new state and the events it causes in one single-document
write (no multi-document transactions exist on FerretDB). The relay publishes pending
events in aggregate order with an idempotent producer and only then removes them, so a
crash loses nothing committed, publishes nothing uncommitted, and a crash between the
broker's ack and the removal republishes the same event with the same id.

Document shape: `sequence` (last event's number), `outbox: {"e<sequence>": event}`,
`outbox_pending: bool` (indexed; what the relay scans). Events are keyed by sequence
rather than kept in an array because FerretDB v1 silently ignores `$pull` conditions.

A *carrier* document (`carrier_outbox`) is a new document holding events of other
aggregates, written once: e.g. one offboarding's `grant.revoked` for each grant it ended,
whose states were changed by one grouped update. Its slots are numbered by position
(`e1..en`, `sequence` = n), not by the events' own sequences, which may repeat across the
aggregates it carries; the writer hands it over with `notify(..., carried=True)`. A carrier
stores each event packed, as one JSON string (see `carrier_outbox`); the relay reads both forms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.propagate import extract
from pymongo import ASCENDING
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
# Documents cleared per statement (FerretDB v1 hangs on batches of 100 statements or more,
# so several statements per request would have to stay below that; one `$in` is fine).
WRITE_BATCH = 200
RECENTLY_SENT_KEPT = 20_000
# Events handed to the producer between two turns of the event loop.
SENDS_PER_TURN = 100


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


def carrier_outbox(events: Sequence[Event]) -> dict[str, Any]:
    """Fields of a new document carrying events of other aggregates (see the module doc);
    they are published in the order given.

    Each event is packed into one JSON string: FerretDB v1 converts every field of a
    document on each insert, read and update, so a carrier of a dozen events as nested
    documents cost about 3× more to insert, read and clear than the same as a dozen strings
    (measured on its SQLite backend); nobody queries inside a carrier's events."""
    return {
        "outbox": {_slot(n): _packed(e) for n, e in enumerate(events, start=1)},
        PENDING: bool(events),
        "sequence": len(events),
    }


def _packed(event: Event) -> str:
    # orjson: a completion carries a dozen events and a batch of leavers 6,000, all packed
    # on the leaver flow's path (the standard library took ~0.15 s of a batch's ~3 s).
    return orjson.dumps({**event.to_document(), "time": event.time.isoformat()}).decode()


def _stored_event(stored: dict[str, Any] | str) -> Event:
    """An outbox slot's event: a document, or packed (a carrier's)."""
    if isinstance(stored, str):
        document = orjson.loads(stored)
        return Event.from_document({**document, "time": datetime.fromisoformat(document["time"])})
    return Event.from_document(stored)


def new_document_outbox(events: Sequence[Event]) -> dict[str, Any]:
    """Fields of a new aggregate document carrying its first events."""
    return {
        "outbox": {_slot(e.sequence): e.to_document() for e in events},
        PENDING: bool(events),
        "sequence": max((e.sequence for e in events), default=0),
    }


async def ensure_outbox_index(collection: AsyncCollection[dict[str, Any]]) -> None:
    await collection.create_index([(PENDING, ASCENDING)], name="outbox_pending")


# An event with the number of its outbox slot (its sequence, or its position in a carrier).
_Slotted = tuple[int, Event]


def _runs_by_trace(
    batch: list[tuple[Any, list[_Slotted]]],
) -> Iterator[tuple[str | None, list[Event]]]:
    """The batch's events in order, cut into runs of one trace context."""
    run: list[Event] = []
    for _, events in batch:
        for _, event in events:
            if run and event.traceparent != run[0].traceparent:
                yield run[0].traceparent, run
                run = []
            run.append(event)
    if run:
        yield run[0].traceparent, run


@dataclass(frozen=True)
class _Written:
    """A committed write whose events the writer handed to the relay directly."""

    document_id: Any
    events: tuple[_Slotted, ...]


class OutboxRelay:
    """Publishes the outbox events of some collections, then removes them from the outbox.

    Two ways in: the process that wrote a document hands its events over at once
    (`notify`, no database read; the fast path), and a sweep finds every document still
    holding events (`outbox_pending`), which covers writes whose process died before its
    relay published them. Sweeps run at start and every `sweep_seconds`, by one replica at
    a time (a lease per collection in `relay_leases`). A sweep is a scan on FerretDB, which
    indexes nothing but `_id`, hence not on every write.

    Order per aggregate holds: one producer sends one aggregate's events in sequence order
    to one partition, and a duplicate of an older event (two relays racing after a crash)
    is dropped by consumers, who apply an event only above the last sequence they applied.
    """

    def __init__(
        self,
        *,
        collections: Sequence[AsyncCollection[dict[str, Any]]],
        leases: AsyncCollection[dict[str, Any]],
        producer_factory: Callable[[], AIOKafkaProducer],
        topic_prefix: str = "",
        sweep_seconds: float = 5.0,
        lease_seconds: float = 15.0,
        batch_documents: int = 500,
        recently_sent_kept: int = RECENTLY_SENT_KEPT,
        faults: FaultPoints = NO_FAULTS,
    ) -> None:
        self._collections = {namespace_of(c): c for c in collections}
        self._leases = leases
        self._new_producer = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._prefix = topic_prefix
        self._sweep_every = sweep_seconds
        self._lease_for = timedelta(seconds=lease_seconds)
        self._batch = batch_documents
        self._recently_sent_kept = recently_sent_kept
        self._faults = faults
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lease_until: dict[str, datetime] = {}
        self._written: dict[str, list[_Written]] = {name: [] for name in self._collections}
        # Ids this relay published lately: a write handed over while a sweep was already
        # publishing the same events is not sent twice.
        self._recently_sent: OrderedDict[str, None] = OrderedDict()
        self._wake = asyncio.Event()

    def notify(
        self,
        collection: AsyncCollection[dict[str, Any]],
        document_id: Any,
        events: Sequence[Event],
        *,
        carried: bool = False,
    ) -> None:
        """Hand over the events of a write that has just committed, to publish them now
        (`carried`: a new `carrier_outbox` document, its events in the order written)."""
        if events:
            slotted = tuple(
                (n, e) if carried else (e.sequence, e) for n, e in enumerate(events, start=1)
            )
            self._written[namespace_of(collection)].append(_Written(document_id, slotted))
            self._wake.set()

    async def run(self) -> None:
        try:
            await self._relay_forever()
        finally:
            if self._producer is not None:
                await self._producer.stop()

    async def _relay_forever(self) -> None:
        backoff = 0.1
        next_sweep = 0.0  # sweep at once: a predecessor may have died with events pending
        while True:
            try:
                for name, collection in self._collections.items():
                    await self._publish_written(name, collection)
                if asyncio.get_running_loop().time() >= next_sweep:
                    for name, collection in self._collections.items():
                        if await self._hold_lease(name):
                            # What was handed over goes first, before every round: else a
                            # sweep that finds thousands of documents still queued here (a
                            # bulk of writes, the relay behind) sends their events, pushes
                            # their ids out of `_recently_sent`, and the queue sends them
                            # again.
                            await self._publish_written(name, collection)
                            while await self._sweep(collection):
                                await self._publish_written(name, collection)
                    next_sweep = asyncio.get_running_loop().time() + self._sweep_every
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: keep the events, retry
                kind = "database" if isinstance(exc, PyMongoError) else type(exc).__name__
                metrics.OUTBOX_RELAY_ERRORS.labels(kind).inc()
                log.warning("outbox relay round failed; retrying", extra={"error": repr(exc)})
                if not isinstance(exc, PyMongoError):
                    # An idempotent producer that failed a send can be left unusable (e.g.
                    # OutOfOrderSequenceNumber after a leader change): start a fresh one.
                    await self._discard_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if not any(self._written.values()):
                self._wake.clear()
                timeout = max(next_sweep - asyncio.get_running_loop().time(), 0.01)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def report_backlog(self, every_seconds: float | None = None) -> None:
        """Keep the backlog gauge current (a count per collection, not per round).

        Each count reads the whole collection on FerretDB v1, like a sweep: by default it
        runs as often as the sweeps do, and never more than every 5 s."""
        every_seconds = every_seconds or max(self._sweep_every, 5.0)
        while True:
            try:
                for collection in self._collections.values():
                    pending = await collection.count_documents({PENDING: True})
                    metrics.OUTBOX_BACKLOG.labels(collection.name).set(pending)
            except PyMongoError:
                pass  # the database being away is /readyz's to report
            await asyncio.sleep(every_seconds)

    async def _publish_written(
        self, name: str, collection: AsyncCollection[dict[str, Any]]
    ) -> None:
        written, self._written[name] = self._written[name], []
        if not written:
            return
        try:
            # One entry per document, its events in slot order, in the order written.
            merged: dict[Any, dict[int, Event]] = {}
            for write in written:
                merged.setdefault(write.document_id, {}).update(dict(write.events))
            batch = [
                (doc_id, unsent)
                for doc_id, events in merged.items()
                if (
                    unsent := [
                        (s, events[s])
                        for s in sorted(events)
                        if events[s].id not in self._recently_sent
                    ]
                )
            ]
            await self._publish_and_clear(collection, batch)
        except BaseException:
            # Not sent (or not known to be): keep them for the next round, ahead of newer.
            self._written[name] = written + self._written[name]
            raise

    async def _sweep(self, collection: AsyncCollection[dict[str, Any]]) -> bool:
        docs = await collection.find({PENDING: True}, {"outbox": 1}, limit=self._batch).to_list()
        batch = [
            (
                doc["_id"],
                [
                    (int(slot[1:]), _stored_event(doc["outbox"][slot]))
                    for slot in sorted(doc.get("outbox") or {})
                ],
            )
            for doc in docs
        ]
        await self._publish_and_clear(collection, batch)
        return len(docs) == self._batch

    async def _publish_and_clear(
        self,
        collection: AsyncCollection[dict[str, Any]],
        batch: list[tuple[Any, list[_Slotted]]],
    ) -> None:
        if not batch:
            return
        await self._faults.reach("relay.before_publish")
        # Send everything first (pipelined), then await the acks.
        futures = []
        for traceparent, run in _runs_by_trace(batch):
            # One producer span per run of events that share a trace (the events of one
            # write do), not one per event: a span was ~8% of a busy relay's time.
            with tracer.start_as_current_span(
                f"publish {run[0].type}" if len(run) == 1 else f"publish {len(run)} events",
                context=extract({"traceparent": traceparent}) if traceparent else None,
                kind=trace.SpanKind.PRODUCER,
                attributes={"messaging.batch.message_count": len(run)},
            ):
                for event in run:
                    futures.append(await self._send(event))
                    if len(futures) % SENDS_PER_TURN == 0:
                        # A carrier batch is thousands of events, ~0.1 ms each to encode
                        # and hand over, and `send` rarely suspends: let the others resume.
                        await asyncio.sleep(0)
        # The acks one by one: a gather of thousands of futures held the event loop ~0.1 s
        # (a callback and bookkeeping per future), awaiting a future already done does not.
        for n, future in enumerate(futures):
            try:
                await future
            except BaseException:
                for rest in futures[n + 1 :]:  # their failures are this one's: not logged
                    rest.add_done_callback(_retrieve_exception)
                raise
        for _, events in batch:
            for _, event in events:
                self._recently_sent[event.id] = None
        while len(self._recently_sent) > self._recently_sent_kept:
            self._recently_sent.popitem(last=False)
        await self._faults.reach("relay.after_publish")
        for start in range(0, len(batch), WRITE_BATCH):
            chunk = batch[start : start + WRITE_BATCH]
            async with DOCUMENT_LOCKS.hold(namespace_of(collection), *(d for d, _ in chunk)):
                await self._clear_sent(collection, chunk)

    async def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _ready_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self._new_producer()
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _send(self, event: Event) -> asyncio.Future[Any]:
        """Hand one event to the producer; the future resolves when Kafka has it."""
        topic = event_type(event.type).topic.physical(self._prefix)
        key, value, headers = event.to_kafka()
        producer = await self._ready_producer()
        future: asyncio.Future[Any] = await producer.send(
            topic, value=value, key=key, headers=headers
        )
        metrics.OUTBOX_PUBLISHED.labels(topic).inc()
        return future

    async def _clear_sent(
        self,
        collection: AsyncCollection[dict[str, Any]],
        chunk: list[tuple[Any, list[_Slotted]]],
    ) -> None:
        # Documents that received the same slots are cleared in one statement. The pending
        # flag is cleared only where no newer event arrived meanwhile (the sequence is
        # unchanged) and no older one is left (the slot below the first sent is empty: a
        # writer that died before its relay published leaves its events below a live
        # writer's). Slots are only ever removed from the bottom, so that one slot tells.
        # A document with older events left keeps everything: the sweep publishes them
        # all in order (those sent now again, under the same ids).
        groups: dict[tuple[int, ...], list[Any]] = {}
        for doc_id, events in chunk:
            groups.setdefault(tuple(slot for slot, _ in events), []).append(doc_id)
        for sequences, ids in groups.items():
            slots = {f"outbox.{_slot(seq)}": "" for seq in sequences}
            nothing_older = (
                {f"outbox.{_slot(sequences[0] - 1)}": {"$exists": False}}
                if sequences[0] > 1
                else {}
            )
            result = await collection.update_many(
                {"_id": {"$in": ids}, "sequence": sequences[-1], **nothing_older},
                {"$unset": slots, "$set": {PENDING: False}},
            )
            if result.matched_count < len(ids):
                # Some aggregates moved on: remove what was sent, keep them pending.
                await collection.update_many(
                    {"_id": {"$in": ids}, **nothing_older}, {"$unset": slots}
                )

    async def _hold_lease(self, name: str) -> bool:
        now = datetime.now(UTC)
        held_until = self._lease_until.get(name)
        if held_until and held_until - now > self._lease_for / 2:
            return True  # renew only past half-life: one write per few seconds, not per round
        until = now + self._lease_for
        try:
            await self._leases.update_one(
                {"_id": name, "$or": [{"owner": self._owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": self._owner, "until": until}},
                upsert=True,
            )
        except DuplicateKeyError:
            self._lease_until.pop(name, None)
            return False  # another replica sweeps this collection
        self._lease_until[name] = until
        return True


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _slots(events: Sequence[Event]) -> dict[str, str]:
    return {f"outbox.{_slot(e.sequence)}": "" for e in events}
