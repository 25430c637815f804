"""A consumer that runs for the whole test session and validates every Chorus message.

It reads every topic named like `…chorus.<service>.<aggregate>.v<N>` (dead-letter topics
excluded: they hold what failed by definition) and checks each message against the
committed JSON Schema of its `ce_type`, independently of the code that produced it.
Messages a test sends malformed on purpose carry `chorus-test-expect-invalid`; for those
the watch checks the opposite, that they do not validate.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import jsonschema
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from chorus_kit.events.catalogue import published_schema

TOPIC_PATTERN = r"^(t[0-9a-f]+\.)?chorus\.[a-z_]+\.[a-z_]+\.v[0-9]+$"
EXPECT_INVALID = "chorus-test-expect-invalid"
REQUIRED_HEADERS = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "ce_sequence",
    "ce_traceparent",
)


def problems_of(key: bytes | None, value: bytes | None, headers: dict[str, bytes]) -> list[str]:
    found = [f"missing header {h}" for h in REQUIRED_HEADERS if h not in headers]
    if found:
        return found
    if key is None or key != headers["ce_subject"]:
        return ["key differs from ce_subject"]
    try:
        schema = published_schema(headers["ce_type"].decode())
    except FileNotFoundError:
        return [f"no published schema for {headers['ce_type'].decode()}"]
    try:
        jsonschema.validate(json.loads(value or b""), schema)
    except (ValueError, jsonschema.ValidationError) as exc:
        return [f"data: {str(exc).splitlines()[0]}"]
    return []


class SchemaWatch:
    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self.seen = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schema-watch", daemon=True)
        self._positions: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("schema watch did not start")

    def finish(self, drain_seconds: float = 30) -> list[str]:
        """Read up to each topic's current end, then stop; returns the failures."""
        if self._loop is None or self._loop.is_closed():
            return [*self.failures, "the schema watch stopped during the session"]
        future = asyncio.run_coroutine_threadsafe(self._drain(drain_seconds), self._loop)
        self.failures += future.result(drain_seconds + 15)
        self._stop.set()
        self._thread.join(30)
        return self.failures

    def _run(self) -> None:
        asyncio.run(self._consume())

    async def _consume(self) -> None:
        self._loop = asyncio.get_running_loop()
        # No consumer group (nothing to coordinate, so nothing to break when the fault
        # tests stop the broker): it assigns itself every matching partition, re-listing
        # topics every second so per-test topics are picked up.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        self._consumer = consumer
        next_listing = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if time.monotonic() >= next_listing:
                        await self._assign_matching(consumer)
                        next_listing = time.monotonic() + 1.0
                        self._ready.set()
                    batches = await consumer.getmany(timeout_ms=200)
                except KafkaError:
                    await asyncio.sleep(0.5)  # the broker is away (fault tests): keep going
                    continue
                for tp, records in batches.items():
                    for record in records:
                        self._check(
                            record.topic,
                            record.offset,
                            record.key,
                            record.value,
                            dict(record.headers or ()),
                        )
                        self._positions[tp] = record.offset + 1
        finally:
            await consumer.stop()

    async def _assign_matching(self, consumer: AIOKafkaConsumer) -> None:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        cluster = consumer._client.cluster  # noqa: SLF001
        wanted = {
            TopicPartition(topic, partition)
            for topic in cluster.topics()
            if re.match(TOPIC_PATTERN, topic)
            for partition in (cluster.partitions_for_topic(topic) or ())
        }
        if wanted <= consumer.assignment():
            return
        consumer.assign(list(wanted))
        for tp in wanted:  # keep the place in partitions already being read
            consumer.seek(tp, self._positions.get(tp, 0))

    def _check(
        self,
        topic: str,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: dict[str, bytes],
    ) -> None:
        self.seen += 1
        problems = problems_of(key, value, headers)
        if EXPECT_INVALID in headers:
            if not problems:
                self.failures.append(f"{topic}@{offset}: meant to be invalid but validates")
            return
        for problem in problems:
            self.failures.append(f"{topic}@{offset}: {problem}")

    async def _drain(self, seconds: float) -> list[str]:
        assert self._consumer is not None
        consumer = self._consumer
        deadline = time.monotonic() + seconds
        await asyncio.sleep(1.2)  # one more topic listing: the last tests' topics too
        while time.monotonic() < deadline:
            assigned = list(consumer.assignment())
            ends = await consumer.end_offsets(assigned) if assigned else {}
            if all(self._positions.get(tp, 0) >= end for tp, end in ends.items()):
                return []
            await asyncio.sleep(0.2)
        return [f"schema watch did not catch up within {seconds}s"]
