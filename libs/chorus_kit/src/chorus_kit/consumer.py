"""The idempotent consumer runner: consumer groups, retries without limit, dead letters.

Handlers must be safe to run twice (apply effects conditionally, e.g. with
`apply_in_order`); offsets are committed only after a message's handling finished, so a
crash redelivers rather than skips. Transient failures (database or broker away) are
retried with back-off for as long as it takes; a message that can never be applied is
parked on `<topic>.<group>.dlq` with the reason in its headers, an alert event is
emitted, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import CommitFailedError, KafkaError
from opentelemetry import trace
from opentelemetry.propagate import extract
from pymongo.errors import ConnectionFailure, PyMongoError

from chorus_kit import metrics
from chorus_kit.errors import EventRejected, TransientError
from chorus_kit.events.catalogue import MESSAGE_DEAD_LETTERED, Topic, UnknownEventType
from chorus_kit.events.envelope import Event, MalformedEvent, current_traceparent
from chorus_kit.events.platform import MessageDeadLettered
from chorus_kit.faults import NO_FAULTS, FaultPoints
from chorus_kit.kafka import ensure_topics, retry_until_done

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

EventHandler = Callable[[Event], Awaitable[None]]
# Applies a run of consecutive events of one type at once (fewer database round trips).
BatchEventHandler = Callable[[Sequence[Event]], Awaitable[None]]
MAX_BATCH = 500
# Records parsed between two turns of the event loop.
PARSED_PER_TURN = 100
# A batch's span links to at most this many of its events' traces: the SDK's default span
# limit, beyond which it drops links (after they were parsed).
MAX_LINKS = 128

# An unexpected exception (most likely a bug) is retried a few times, then parked with its
# reason rather than blocking the partition forever; infrastructure errors never are.
MAX_ATTEMPTS_UNEXPECTED = 5
DLQ_HEADER_PREFIX = "chorus_dlq_"


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | ConnectionFailure | KafkaError | OSError | TimeoutError):
        return True
    # Other driver errors raised while the server is away or restarting.
    return isinstance(exc, PyMongoError) and exc.has_error_label("RetryableWriteError")


def _links_to(events: Sequence[Event]) -> list[trace.Link]:
    """Links to the traces a batch's events came from: one per distinct trace context (the
    events of one write share theirs), at most MAX_LINKS."""
    parents = dict.fromkeys(e.traceparent for e in events if e.traceparent)
    return [
        trace.Link(trace.get_current_span(extract({"traceparent": p})).get_span_context())
        for p in list(parents)[:MAX_LINKS]
    ]


class _Parked(Exception):
    def __init__(self, reason: str, detail: str, event: Event | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.event = event


class _AssignmentGauge(ConsumerRebalanceListener):  # type: ignore[misc]
    """Publishes how many partitions this replica holds (0 while it waits for some)."""

    def __init__(self, group: str) -> None:
        self._group = group

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        metrics.CONSUMER_ASSIGNED.labels(self._group).set(0)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        metrics.CONSUMER_ASSIGNED.labels(self._group).set(len(assigned))


class EventConsumer:
    """Runs handlers for the event types a service consumes, in one consumer group."""

    def __init__(
        self,
        *,
        bootstrap: str,
        group: str,
        topics: Sequence[Topic],
        handlers: Mapping[str, EventHandler],
        producer_factory: Callable[[], AIOKafkaProducer],
        source: str,
        topic_prefix: str = "",
        faults: FaultPoints = NO_FAULTS,
        ignore_types: Sequence[str] = (),
        batch_handlers: Mapping[str, BatchEventHandler] | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self.group = f"{topic_prefix}{group}"
        self._topics = list(topics)
        self._handlers = dict(handlers)
        self._batch_handlers = dict(batch_handlers or {})
        self._ignore = set(ignore_types)
        self._new_producer = producer_factory
        self._producer: AIOKafkaProducer | None = None  # for dead letters and alerts
        self._source = source
        self._prefix = topic_prefix
        self._faults = faults
        self._consumer: AIOKafkaConsumer | None = None
        self._revoked: set[TopicPartition] = set()

    async def run(self) -> None:
        await retry_until_done(
            lambda: ensure_topics(
                self._bootstrap,
                [*self._topics, MESSAGE_DEAD_LETTERED.topic],
                prefix=self._prefix,
                extra=[
                    (t.dlq(self._prefix, self.group.removeprefix(self._prefix)), 1)
                    for t in self._topics
                ],
            ),
            what="creating consumed and dead-letter topics",
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self.group,
            client_id=f"{self.group}-{uuid.uuid4().hex[:6]}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=500,
            # A topic created after the subscription shows up within this, not 5 minutes.
            metadata_max_age_ms=10_000,
        )
        self._consumer = consumer
        await retry_until_done(consumer.start, what=f"joining consumer group {self.group}")
        await retry_until_done(
            lambda: _until_partitions_known(
                consumer, [t.physical(self._prefix) for t in self._topics]
            ),
            what="waiting for the consumed topics' partitions",
        )
        producer = self._new_producer()
        await retry_until_done(producer.start, what="starting the dead-letter producer")
        self._producer = producer
        consumer.subscribe(
            topics=[t.physical(self._prefix) for t in self._topics],
            listener=_AssignmentGauge(self.group),
        )
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                self._revoked.clear()
                if batches:
                    # Parsed first, all of them: handlers of several partitions then start
                    # together, as a batch handler that merges their runs expects.
                    parsed = {tp: await self._parse(records) for tp, records in batches.items()}
                    # Partitions are independent: handle them concurrently, each in order.
                    await asyncio.gather(
                        *(
                            self._handle_partition(tp, records, parsed[tp])
                            for tp, records in batches.items()
                        )
                    )
                await self._record_lag(consumer)
        finally:
            await consumer.stop()
            await producer.stop()

    async def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is not None:
                position = await consumer.position(tp)
                metrics.CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(
                    max(high - position, 0)
                )

    def _still_assigned(self, tp: TopicPartition) -> bool:
        assert self._consumer is not None
        return tp in self._consumer.assignment()

    async def _parse(self, records: list[ConsumerRecord]) -> list[Event | None]:
        """Each record's event, parsed once; None for a record that is not a well-formed
        event of a known type (the one-by-one path parses it again, to park it)."""
        parsed: list[Event | None] = []
        for n, record in enumerate(records, start=1):
            try:
                parsed.append(
                    Event.from_kafka(record.key, record.value, list(record.headers or ()))
                )
            except Exception:  # whatever it is, the one-by-one path retries or parks it
                parsed.append(None)
            if n % PARSED_PER_TURN == 0:
                # ~0.1 ms per record: a poll of 500 held the event loop for 50-100 ms, in
                # which the process's other loops (the leaver flow, the relay) waited.
                await asyncio.sleep(0)
        return parsed

    async def _handle_partition(
        self, tp: TopicPartition, records: list[ConsumerRecord], events: list[Event | None]
    ) -> None:
        assert self._consumer is not None
        position = 0
        while position < len(records):
            run = self._batchable_run(records, events, position)
            if len(run) > 1:
                outcome = await self._handle_batch(tp, run)
                if outcome is None:
                    return  # partition taken away mid-retry
                if outcome:
                    position += len(run)
                    if not await self._commit(tp, run[-1][0].offset + 1):
                        return
                    continue
                # The batch failed for a reason that is not transient: go one by one, so
                # only the message that cannot be applied is parked.
            record = records[position]
            if not await self._handle_record(tp, record, events[position]):
                return  # partition taken away mid-retry: its new owner takes over from here
            position += 1
            if not await self._commit(tp, record.offset + 1):
                return

    async def _commit(self, tp: TopicPartition, offset: int) -> bool:
        assert self._consumer is not None
        try:
            await self._consumer.commit({tp: offset})
        except CommitFailedError:
            return False  # rebalanced: redelivered to the new owner, handlers are idempotent
        return True

    def _batchable_run(
        self, records: list[ConsumerRecord], events: list[Event | None], start: int
    ) -> list[tuple[ConsumerRecord, Event]]:
        """Consecutive well-formed records of one batch-handled type, from `start`."""
        run: list[tuple[ConsumerRecord, Event]] = []
        for record, event in zip(
            records[start : start + MAX_BATCH], events[start : start + MAX_BATCH], strict=True
        ):
            if event is None:
                break
            if event.type not in self._batch_handlers or (run and event.type != run[0][1].type):
                break
            run.append((record, event))
        return run

    async def _handle_batch(
        self, tp: TopicPartition, run: list[tuple[ConsumerRecord, Event]]
    ) -> bool | None:
        """True once applied; False to retry one by one; None if the partition was revoked."""
        events = [event for _, event in run]
        handler = self._batch_handlers[events[0].type]
        backoff = 0.05
        links = _links_to(events)
        while self._still_assigned(tp):
            try:
                with tracer.start_as_current_span(
                    f"consume {events[0].type} x{len(events)}",
                    kind=trace.SpanKind.CONSUMER,
                    links=links,
                ):
                    await handler(events)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_transient(exc):
                    return False
                metrics.CONSUMER_RETRIES.labels(self.group).inc()
                log.warning(
                    "batch handler failed; retrying",
                    extra={"group": self.group, "error": type(exc).__name__},
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            metrics.CONSUMER_HANDLED.labels(self.group, events[0].type, "applied").inc(len(events))
            await self._faults.reach("consumer.after_apply")
            return True
        return None

    async def _handle_record(
        self, tp: TopicPartition, record: ConsumerRecord, parsed: Event | None
    ) -> bool:
        """True once the record is applied or parked; False if the partition was revoked."""
        attempt = 0
        backoff = 0.05
        while True:
            if not self._still_assigned(tp):
                return False
            try:
                await self._apply(record, parsed)
                return True
            except _Parked as parked:
                await self._dead_letter(record, parked)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                metrics.CONSUMER_RETRIES.labels(self.group).inc()
                if not is_transient(exc) and attempt >= MAX_ATTEMPTS_UNEXPECTED:
                    detail = f"{type(exc).__name__}: {str(exc)[:300]}"
                    await self._dead_letter(record, _Parked("handler-failed", detail))
                    return True
                log.warning(
                    "handler failed; retrying",
                    extra={
                        "group": self.group,
                        "offset": record.offset,
                        "attempt": attempt,
                        "error": type(exc).__name__,
                    },
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _apply(self, record: ConsumerRecord, parsed: Event | None) -> None:
        event = parsed if parsed is not None else _parsed_or_parked(record)
        handler = self._handlers.get(event.type)
        if handler is None and event.type in self._batch_handlers:
            batch = self._batch_handlers[event.type]

            async def handler(one: Event) -> None:
                await batch([one])

        if handler is None:
            if event.type in self._ignore:
                metrics.CONSUMER_HANDLED.labels(self.group, event.type, "ignored").inc()
                return
            raise _Parked("unknown-type", f"{self.group} has no handler for {event.type}", event)
        context = extract({"traceparent": event.traceparent}) if event.traceparent else None
        with tracer.start_as_current_span(
            f"consume {event.type}", context=context, kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.kafka.offset", record.offset)
            span.set_attribute("cloudevents.event_id", event.id)
            try:
                await handler(event)
            except EventRejected as exc:
                raise _Parked("rejected", str(exc)[:300], event) from exc
        metrics.CONSUMER_HANDLED.labels(self.group, event.type, "applied").inc()
        await self._faults.reach("consumer.after_apply")

    async def _dead_letter(self, record: ConsumerRecord, parked: _Parked) -> None:
        assert self._producer is not None
        group = self.group.removeprefix(self._prefix)
        dlq_topic = f"{record.topic}.{group}.dlq"
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith(DLQ_HEADER_PREFIX)]
        headers += [
            (f"{DLQ_HEADER_PREFIX}reason", parked.reason.encode()),
            (f"{DLQ_HEADER_PREFIX}detail", parked.detail.encode()),
            (f"{DLQ_HEADER_PREFIX}topic", record.topic.encode()),
            (f"{DLQ_HEADER_PREFIX}partition", str(record.partition).encode()),
            (f"{DLQ_HEADER_PREFIX}offset", str(record.offset).encode()),
            (f"{DLQ_HEADER_PREFIX}group", self.group.encode()),
            (f"{DLQ_HEADER_PREFIX}at", datetime.now(UTC).isoformat().encode()),
        ]
        await (
            await self._producer.send(
                dlq_topic, value=record.value, key=record.key, headers=headers
            )
        )
        alert = Event(
            # Stable id: a redelivered message parked twice raises the same alert.
            id=str(
                uuid.uuid5(
                    uuid.NAMESPACE_URL,
                    f"{self.group}/{record.topic}/{record.partition}/{record.offset}",
                )
            ),
            type=MESSAGE_DEAD_LETTERED.type,
            source=self._source,
            subject=dlq_topic,
            time=datetime.now(UTC),
            sequence=record.offset + 1,
            traceparent=parked.event.traceparent if parked.event else current_traceparent(),
            data=MessageDeadLettered(
                group=self.group,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                dlq_topic=dlq_topic,
                reason=parked.reason,
                detail=parked.detail,
                event_id=parked.event.id if parked.event else None,
                event_type=parked.event.type if parked.event else None,
            ).model_dump(mode="json"),
        )
        key, value, alert_headers = alert.to_kafka()
        await (
            await self._producer.send(
                MESSAGE_DEAD_LETTERED.topic.physical(self._prefix),
                value=value,
                key=key,
                headers=alert_headers,
            )
        )
        metrics.DLQ_MESSAGES.labels(self.group, parked.reason).inc()
        metrics.CONSUMER_HANDLED.labels(self.group, "-", "dead-lettered").inc()
        log.error(
            "message dead-lettered",
            extra={
                "group": self.group,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "reason": parked.reason,
                "dlq_topic": dlq_topic,
            },
        )


def _parsed_or_parked(record: ConsumerRecord) -> Event:
    try:
        return Event.from_kafka(record.key, record.value, list(record.headers or ()))
    except MalformedEvent as exc:
        raise _Parked(exc.reason, exc.detail) from exc
    except UnknownEventType as exc:
        raise _Parked("unknown-type", f"no such event type: {str(exc)[:200]}") from exc


async def _until_partitions_known(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> None:
    """Subscribing before a just-created topic's partitions reach the client's metadata would
    assign nothing for that topic until the next metadata refresh: wait for them first."""
    for _ in range(100):
        await consumer.topics()  # a fresh metadata request
        if all(consumer.partitions_for_topic(t) for t in topics):
            return
        await asyncio.sleep(0.1)
    raise TransientError(f"partitions of {list(topics)} not in the broker's metadata yet")


def strip_dlq_headers(headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in headers if not k.startswith(DLQ_HEADER_PREFIX)]


def dlq_header(headers: Sequence[tuple[str, bytes]], name: str) -> str | None:
    for k, v in headers:
        if k == f"{DLQ_HEADER_PREFIX}{name}":
            return v.decode()
    return None


__all__ = ["EventConsumer", "EventHandler", "dlq_header", "is_transient", "strip_dlq_headers"]
