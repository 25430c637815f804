"""Kafka clients configured once: a safe producer and explicit topic creation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from chorus_kit.events.catalogue import Topic

log = logging.getLogger(__name__)
T = TypeVar("T")

# Same settings everywhere (and in the benchmark's raw baseline): durability first.
PRODUCER_SETTINGS: dict[str, object] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "max_batch_size": 256 * 1024,
    "request_timeout_ms": 10_000,
}


def create_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    """acks=all and idempotence set explicitly: aiokafka's defaults are weaker."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, **PRODUCER_SETTINGS)


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[Topic],
    *,
    prefix: str = "",
    extra: Iterable[tuple[str, int]] = (),
) -> None:
    """Create the topics with their partition counts; existing ones are left as they are.

    Auto-creation is off on the broker, so a typo in a topic name fails loudly instead of
    silently creating a one-partition topic.
    """
    wanted: list[NewTopic] = []
    for topic in topics:
        configs = {"cleanup.policy": "compact"} if topic.compacted else {}
        wanted.append(NewTopic(topic.physical(prefix), topic.partitions, 1, topic_configs=configs))
    for name, partitions in extra:
        wanted.append(NewTopic(name, partitions, 1))
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        for new_topic in missing:
            try:
                await admin.create_topics([new_topic])
            except TopicAlreadyExistsError:
                pass  # another replica created it between our list and create
        if missing:
            log.info("created topics", extra={"topics": [t.name for t in missing]})
    finally:
        await admin.close()


async def retry_until_done(
    action: Callable[[], Awaitable[T]], *, what: str, max_backoff: float = 5.0
) -> T:
    """Run `action` until it succeeds: a service starting while Kafka is away waits for it
    instead of crash-looping (its HTTP side, with the outbox, keeps working meanwhile)."""
    backoff = 0.2
    while True:
        try:
            return await action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s failed; retrying", what, extra={"error": repr(exc)})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)


def topic_creator(
    bootstrap: str, topics: Iterable[Topic], *, prefix: str = ""
) -> Callable[[], Awaitable[None]]:
    """A background task creating a service's topics, waiting for Kafka if it is away."""
    wanted = list(topics)

    async def create_topics() -> None:
        await retry_until_done(
            lambda: ensure_topics(bootstrap, wanted, prefix=prefix),
            what=f"creating topics {[t.name for t in wanted]}",
        )

    return create_topics
