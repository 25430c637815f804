"""Reads `chorus.identity.session.v1` from the start, in every verifier replica.

Not a consumer group: each replica must see every revocation, so each one assigns itself
all partitions and reads from offset 0 (the topic is compacted, keyed by person, so "from
the start" stays short). A replica is ready only once it has read up to the end offsets
that were current when it started; from then on a revocation reaches it within a fetch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from chorus_kit.auth import RevocationList
from chorus_kit.events.catalogue import SESSION, SESSIONS_REVOKED
from chorus_kit.events.envelope import Event, MalformedEvent, UnknownEventType
from chorus_kit.events.identity import SessionsRevoked
from chorus_kit.kafka import ensure_topics, retry_until_done

log = logging.getLogger(__name__)


class RevocationReader:
    def __init__(
        self, *, bootstrap: str, revocations: RevocationList, topic_prefix: str = ""
    ) -> None:
        self._bootstrap = bootstrap
        self._revocations = revocations
        self._prefix = topic_prefix
        self._topic = SESSION.physical(topic_prefix)
        revocations.caught_up = False

    async def run(self) -> None:
        await retry_until_done(
            lambda: ensure_topics(self._bootstrap, [SESSION], prefix=self._prefix),
            what="creating the session topic",
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,  # a revocation is honoured within a second, not a poll
        )
        await retry_until_done(consumer.start, what="connecting the revocation reader")
        try:
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            targets = await consumer.end_offsets(partitions)
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        self._apply(record.key, record.value, list(record.headers or ()))
                if not self._revocations.caught_up and await self._reached(consumer, targets):
                    self._revocations.caught_up = True
                    log.info("session revocations caught up", extra={"topic": self._topic})
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
            found = consumer.partitions_for_topic(self._topic)
            if found:
                return [TopicPartition(self._topic, p) for p in sorted(found)]
            await asyncio.sleep(0.5)

    def _apply(
        self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        try:
            event = Event.from_kafka(key, value, headers)
        except (MalformedEvent, UnknownEventType) as exc:
            # A verifier cannot park messages for others to replay; it says so loudly.
            log.error("unreadable session revocation skipped", extra={"error": str(exc)[:200]})
            return
        if event.type != SESSIONS_REVOKED.type:
            return
        revoked = event.data_as(SessionsRevoked)
        self._revocations.revoke(revoked.person_id, issued_before=revoked.revoked_before)


def revocations_caught_up(revocations: RevocationList) -> Callable[[], Awaitable[None]]:
    """Readiness check: a replica that has not read every revocation yet is not ready."""

    async def check() -> None:
        if not revocations.caught_up:
            raise RuntimeError("session revocations not caught up")

    return check
