"""Live events for subscriptions: a per-replica Kafka reader fanning events out to the
subscribers of this replica, and the end of a subscription whose session is revoked.

Every replica must see every event (a subscriber may be connected to any of them), so
this is not a consumer group: each replica assigns itself every partition and starts
at the end (a subscription promises what happens from now on, not history).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from chorus_kit.auth import Principal, RevocationList
from chorus_kit.events.catalogue import Topic
from chorus_kit.events.envelope import Event, MalformedEvent, UnknownEventType
from chorus_kit.kafka import ensure_topics, retry_until_done

log = logging.getLogger(__name__)
QUEUE_SIZE = 256
REMEMBERED_PEOPLE = 50_000


class SubscriptionEnded(Exception):
    """Why a subscription stops: the session was revoked, or the subscriber fell behind."""

    def __init__(self, reason: str, *, close_code: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.close_code = close_code


@dataclass(eq=False)
class Subscription:
    principal: Principal
    types: frozenset[str]
    queue: asyncio.Queue[Event | SubscriptionEnded] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )

    async def next(self) -> Event:
        item = await self.queue.get()
        if isinstance(item, SubscriptionEnded):
            raise item
        return item

    def offer(self, item: Event | SubscriptionEnded) -> bool:
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            return False


class LiveHub:
    """This replica's subscribers, by the event types they wait for."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        # Each person's unit path as the latest employee event gave it, so that events
        # naming only a person (an offboarding's completion) can be shown to the right
        # admins without a call per subscriber.
        self._unit_paths: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def subscribe(self, principal: Principal, types: Iterable[str]) -> Subscription:
        subscription = Subscription(principal, frozenset(types))
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def __len__(self) -> int:
        return len(self._subscriptions)

    def publish(self, event: Event) -> None:
        path = event.data.get("unit_path") if isinstance(event.data, dict) else None
        if isinstance(path, list) and path:
            self.remember_unit_path(event.subject, path)
        for subscription in list(self._subscriptions):
            if event.type in subscription.types and not subscription.offer(event):
                # A subscriber that cannot keep up is dropped rather than slowing others.
                self._end(subscription, SubscriptionEnded("too slow", close_code=4429))

    def session_revoked(self, person_id: str, revocations: RevocationList) -> None:
        for subscription in list(self._subscriptions):
            principal = subscription.principal
            if principal.sub == person_id and revocations.is_revoked(
                principal.sub, principal.issued_at
            ):
                self._end(subscription, SubscriptionEnded("session revoked", close_code=4403))

    def _end(self, subscription: Subscription, ended: SubscriptionEnded) -> None:
        """Whatever is still queued is not delivered: the end is the next thing it reads."""
        self._subscriptions.discard(subscription)
        while not subscription.queue.empty():
            subscription.queue.get_nowait()
        subscription.offer(ended)

    def remember_unit_path(self, person_id: str, path: Sequence[str]) -> None:
        self._unit_paths[person_id] = tuple(path)
        self._unit_paths.move_to_end(person_id)
        while len(self._unit_paths) > REMEMBERED_PEOPLE:
            self._unit_paths.popitem(last=False)

    def unit_path_of(self, person_id: str) -> tuple[str, ...] | None:
        return self._unit_paths.get(person_id)


class WatchedRevocations(RevocationList):
    """The revocation list that also ends the subscriptions of a revoked session."""

    def __init__(self, hub: LiveHub) -> None:
        super().__init__()
        self._hub = hub

    def revoke(self, sub: str, *, issued_before: datetime) -> None:
        super().revoke(sub, issued_before=issued_before)
        self._hub.session_revoked(sub, self)


class LiveFeed:
    """Reads the subscribed topics from their end, in every replica, into the hub."""

    def __init__(
        self, *, bootstrap: str, topics: Sequence[Topic], hub: LiveHub, topic_prefix: str = ""
    ) -> None:
        self._bootstrap = bootstrap
        self._topics = list(topics)
        self._prefix = topic_prefix
        self._hub = hub
        self.positioned = False

    async def run(self) -> None:
        await retry_until_done(
            lambda: ensure_topics(self._bootstrap, self._topics, prefix=self._prefix),
            what="creating the live topics",
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=100,
        )
        await retry_until_done(consumer.start, what="connecting the live feed")
        try:
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for tp in partitions:  # resolve the positions now: "from now on" starts here
                await consumer.position(tp)
            self.positioned = True
            log.info("live feed positioned", extra={"partitions": len(partitions)})
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        self._publish(record.key, record.value, list(record.headers or ()))
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        names = [t.physical(self._prefix) for t in self._topics]
        while True:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            found = {n: consumer.partitions_for_topic(n) for n in names}
            if all(found.values()):
                return [TopicPartition(n, p) for n, ps in found.items() for p in sorted(ps or ())]
            await asyncio.sleep(0.5)

    def _publish(
        self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        try:
            event = Event.from_kafka(key, value, headers)
        except (MalformedEvent, UnknownEventType) as exc:
            log.warning("unreadable live event skipped", extra={"error": str(exc)[:200]})
            return
        self._hub.publish(event)


def live_feed_positioned(feed: LiveFeed) -> Callable[[], Awaitable[None]]:
    """Readiness: a replica that would miss events its subscribers wait for is not ready."""

    async def check() -> None:
        if not feed.positioned:
            raise RuntimeError("live feed not positioned")

    return check
