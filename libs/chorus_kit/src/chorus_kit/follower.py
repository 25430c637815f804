"""Reading every partition of one topic in every replica (no consumer group).

A consumer group splits a topic between replicas; what every replica must see for itself
(session revocations, the events that keep an in-memory read model current) is read by a
`TopicFollower` instead: it assigns itself all partitions, notes their end offsets, lets
its owner load a starting state (`prepare`), then reads from the beginning or from those
offsets. It is `caught_up` once it has read up to the noted ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from aiokafka import AIOKafkaConsumer, TopicPartition

from chorus_kit.events.catalogue import Topic
from chorus_kit.events.envelope import Event, MalformedEvent, UnknownEventType
from chorus_kit.kafka import ensure_topics, retry_until_done

log = logging.getLogger(__name__)

EventsHandler = Callable[[Sequence[Event]], Awaitable[None]]


async def _nothing_to_prepare() -> None:
    return None


class TopicFollower:
    def __init__(
        self,
        *,
        bootstrap: str,
        topic: Topic,
        on_events: EventsHandler,
        topic_prefix: str = "",
        from_beginning: bool,
        prepare: Callable[[], Awaitable[None]] = _nothing_to_prepare,
        on_caught_up: Callable[[], None] = lambda: None,
        fetch_max_wait_ms: int = 100,
    ) -> None:
        """`from_beginning`: replay the whole topic (compacted topics); else start at the end
        offsets noted before `prepare` ran (its state covers everything before them)."""
        self._bootstrap = bootstrap
        self._topic = topic
        self._prefix = topic_prefix
        self._name = topic.physical(topic_prefix)
        self._on_events = on_events
        self._from_beginning = from_beginning
        self._prepare = prepare
        self._on_caught_up = on_caught_up
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self.caught_up = False

    async def run(self) -> None:
        await retry_until_done(
            lambda: ensure_topics(self._bootstrap, [self._topic], prefix=self._prefix),
            what=f"creating {self._name}",
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._fetch_max_wait_ms,
        )
        await retry_until_done(consumer.start, what=f"connecting the reader of {self._name}")
        try:
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            targets = await consumer.end_offsets(partitions)
            # The database away must not end the process nor skip events: wait, retry.
            await retry_until_done(self._prepare, what=f"preparing the reader of {self._name}")
            if self._from_beginning:
                await consumer.seek_to_beginning(*partitions)
            else:
                for tp, end in targets.items():
                    consumer.seek(tp, end)
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                events = [
                    event
                    for records in batches.values()
                    for record in records
                    if (event := self._read(record.key, record.value, record.headers))
                ]
                if events:
                    await retry_until_done(
                        partial(self._on_events, events), what=f"applying {self._name}"
                    )
                if not self.caught_up and await self._reached(consumer, targets):
                    self.caught_up = True
                    self._on_caught_up()
                    log.info("caught up", extra={"topic": self._name})
        finally:
            await consumer.stop()

    @staticmethod
    async def _reached(consumer: AIOKafkaConsumer, targets: dict[TopicPartition, int]) -> bool:
        for tp, end in targets.items():
            if await consumer.position(tp) < end:
                return False
        return True

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:  # just created: wait until the metadata shows it
            await consumer._client.force_metadata_update()  # noqa: SLF001
            found = consumer.partitions_for_topic(self._name)
            if found:
                return [TopicPartition(self._name, p) for p in sorted(found)]
            await asyncio.sleep(0.5)

    def _read(
        self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]] | None
    ) -> Event | None:
        try:
            return Event.from_kafka(key, value, list(headers or ()))
        except (MalformedEvent, UnknownEventType) as exc:
            # A follower cannot park messages for others to replay; it says so loudly.
            log.error(
                "unreadable event skipped", extra={"topic": self._name, "error": str(exc)[:200]}
            )
            return None
