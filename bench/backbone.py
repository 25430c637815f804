"""`make bench-backbone`: raw Kafka, raw database writes, and the whole backbone, in one run.

Same payload (~500 B of event data), same topic partitions and producer settings
(`chorus_kit.kafka.PRODUCER_SETTINGS`: acks=all, idempotence, linger) and pipelined sends
for every figure:
  (a) raw aiokafka: produce N messages pipelined, consume them all: events/s;
  (b) raw database: N single-document inserts with 16 in flight: writes/s (and, for
      reference, N single-document updates by _id on a collection of N documents);
  (c) the backbone: N domain writes (one document holding its state and event, 16 in
      flight) → outbox relay → Kafka → idempotent consumer effect: events/s, and p50/p99
      latency from the domain write to the applied effect.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from bench._infra import bench_infra
from chorus_kit.consumer import EventConsumer
from chorus_kit.events import Event, new_event
from chorus_kit.events.catalogue import EMPLOYEE
from chorus_kit.events.identity import EmployeeHired, EmploymentStatus
from chorus_kit.kafka import create_producer, ensure_topics
from chorus_kit.mongo import apply_many_in_order
from chorus_kit.outbox import OutboxRelay, ensure_outbox_index, new_document_outbox

N = int(os.environ.get("BENCH_EVENTS", "2000"))
IN_FLIGHT = 16
STEADY_SECONDS = 10.0
PAYLOAD_PAD = "x" * 300  # brings the event data to ~500 B of JSON


def hired_event(subject: str) -> Event:
    return new_event(
        "chorus.identity.employee.hired",
        source="/bench",
        subject=subject,
        sequence=1,
        data=EmployeeHired(
            employee_id=subject,
            email=f"{subject}@example.com",
            given_name="Bench",
            family_name=PAYLOAD_PAD,
            unit_id="company",
            manager_chain=["m1", "m2"],
            status=EmploymentStatus.ACTIVE,
            start_date=datetime.now(UTC),
        ),
    )


async def bounded(n: int, work: Any) -> None:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with gate:
            await work(i)

    await asyncio.gather(*(one(i) for i in range(n)))


async def raw_kafka(bootstrap: str, prefix: str) -> float:
    topic = EMPLOYEE.physical(prefix)
    messages = [hired_event(str(uuid.uuid4())).to_kafka() for _ in range(N)]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{prefix}raw",
        enable_auto_commit=False,
    )
    await consumer.start()
    producer = create_producer(bootstrap, client_id="bench-raw")
    await producer.start()
    try:
        began = time.perf_counter()
        futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in messages]
        await asyncio.gather(*futures)
        received = 0
        while received < N:
            batches = await consumer.getmany(timeout_ms=1000)
            received += sum(len(b) for b in batches.values())
        return N / (time.perf_counter() - began)
    finally:
        await producer.stop()
        await consumer.stop()


async def raw_db(mongo: AsyncMongoClient[dict[str, Any]], database: str) -> tuple[float, float]:
    collection = mongo[database]["raw"]
    docs = [{"_id": str(uuid.uuid4()), **hired_event("x").to_document()} for _ in range(N)]
    began = time.perf_counter()
    await bounded(N, lambda i: collection.insert_one(docs[i]))
    inserts = N / (time.perf_counter() - began)
    began = time.perf_counter()
    await bounded(N, lambda i: collection.update_one({"_id": docs[i]["_id"]}, {"$set": {"n": i}}))
    updates = N / (time.perf_counter() - began)
    return inserts, updates


@dataclass
class BackboneFigures:
    burst_per_s: float
    burst_latencies: list[float]
    steady_rate: float
    steady_latencies: list[float]


async def backbone(
    bootstrap: str, mongo: AsyncMongoClient[dict[str, Any]], database: str, prefix: str
) -> BackboneFigures:
    db = mongo[database]
    aggregates, view = db["aggregates"], db["view"]
    await ensure_outbox_index(aggregates)
    relay = OutboxRelay(
        collections=[aggregates],
        leases=db["relay_leases"],
        producer_factory=lambda: create_producer(bootstrap, client_id="bench-relay"),
        topic_prefix=prefix,
    )
    latencies: list[float] = []
    expected = N
    done = asyncio.Event()

    async def apply_effects(events: Sequence[Event]) -> None:
        await apply_many_in_order(
            view,
            [
                (e.subject, e.sequence, {"$set": {"status": "active"}, "$push": {"history": e.id}})
                for e in events
            ],
        )
        now = datetime.now(UTC)
        latencies.extend((now - e.time).total_seconds() * 1000 for e in events)
        if len(latencies) >= expected:
            done.set()

    consumer = EventConsumer(
        bootstrap=bootstrap,
        group="bench",
        topics=[EMPLOYEE],
        handlers={},
        batch_handlers={"chorus.identity.employee.hired": apply_effects},
        producer_factory=lambda: create_producer(bootstrap, client_id="bench-dlq"),
        source="/bench",
        topic_prefix=prefix,
    )
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]
    try:
        # Let the consumer join its group before the clock starts.
        warm = hired_event(str(uuid.uuid4()))
        await aggregates.insert_one({"_id": warm.subject, **new_document_outbox([warm])})
        relay.notify(aggregates, warm.subject, [warm])
        while not latencies:
            await asyncio.sleep(0.05)
        latencies.clear()

        async def domain_write(i: int) -> None:
            event = hired_event(str(uuid.uuid4()))  # its time is taken just before the write
            await aggregates.insert_one(
                {"_id": event.subject, "state": "active", **new_document_outbox([event])}
            )
            relay.notify(aggregates, event.subject, [event])

        began = time.perf_counter()
        await bounded(N, domain_write)
        await asyncio.wait_for(done.wait(), timeout=600)
        burst_per_s, burst_latencies = N / (time.perf_counter() - began), list(latencies)

        # Latency is read at a steady rate of half the throughput just measured (open
        # loop: each write starts on schedule, whether or not earlier ones finished).
        rate = burst_per_s / 2
        expected = min(N, max(int(rate * STEADY_SECONDS), 50))
        latencies.clear()
        done.clear()
        writes = []
        began = time.perf_counter()
        for i in range(expected):
            await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
            writes.append(asyncio.create_task(domain_write(i)))
        await asyncio.gather(*writes)
        await asyncio.wait_for(done.wait(), timeout=600)
        return BackboneFigures(burst_per_s, burst_latencies, rate, list(latencies))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def main() -> None:
    with bench_infra() as (bootstrap, mongo_uri):
        run = f"b{uuid.uuid4().hex[:8]}"
        prefix = f"{run}."
        await ensure_topics(bootstrap, [EMPLOYEE], prefix=prefix)
        await ensure_topics(bootstrap, [EMPLOYEE], prefix=f"{run}raw.")
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
        try:
            print(
                f"# {N} events of ~{len(hired_event('x').to_kafka()[1])} B, "
                f"{EMPLOYEE.partitions} partitions, {IN_FLIGHT} writes in flight"
            )
            kafka_per_s = await raw_kafka(bootstrap, f"{run}raw.")
            print(f"raw kafka produce→consume:   {kafka_per_s:10.0f} events/s")
            inserts, updates = await raw_db(mongo, f"{run}_raw")
            print(f"raw database inserts:        {inserts:10.0f} writes/s")
            print(f"raw database updates by _id: {updates:10.0f} writes/s (collection of {N})")
            figures = await backbone(bootstrap, mongo, f"{run}_backbone", prefix)
        finally:
            await mongo.close()
    per_s = figures.burst_per_s
    p50, p99 = percentile(figures.steady_latencies, 50), percentile(figures.steady_latencies, 99)
    burst_p50 = percentile(figures.burst_latencies, 50)
    burst_p99 = percentile(figures.burst_latencies, 99)
    slower_raw = min(kafka_per_s, inserts)
    print(
        f"backbone write→effect:       {per_s:10.0f} events/s "
        f"(as fast as it goes; latency then p50 {burst_p50:.0f} ms, p99 {burst_p99:.0f} ms)"
    )
    print(
        f"backbone at {figures.steady_rate:.0f} events/s:    "
        f"latency write→effect p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(f"ratio backbone / slower raw: {per_s / slower_raw:10.2f}")
    print(
        json.dumps(
            {
                "events": N,
                "backbone_per_s": round(per_s, 1),
                "raw_kafka_per_s": round(kafka_per_s, 1),
                "raw_db_writes_per_s": round(inserts, 1),
                "raw_db_updates_per_s": round(updates, 1),
                "ratio": round(per_s / slower_raw, 3),
                "steady_rate_per_s": round(figures.steady_rate, 1),
                "p50_ms": round(p50, 1),
                "p99_ms": round(p99, 1),
                "burst_p50_ms": round(burst_p50, 1),
                "burst_p99_ms": round(burst_p99, 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
