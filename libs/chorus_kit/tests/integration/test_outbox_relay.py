"""The outbox relay against a real Kafka and MongoDB-wire server, in-process."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from datetime import UTC, datetime

from chorus_kit.events import Event, new_event
from chorus_kit.events.catalogue import EMPLOYEE
from chorus_kit.events.identity import EmployeeOffboarded, EmploymentStatus
from chorus_kit.faults import FaultPoints
from chorus_kit.kafka import create_producer, ensure_topics
from chorus_kit.mongo import apply_in_order
from chorus_kit.outbox import (
    PENDING,
    OutboxRelay,
    carrier_outbox,
    ensure_outbox_index,
    new_document_outbox,
    outbox_fields,
)
from tests.support.kafka import read_topic
from tests.support.polling import eventually


def offboarded(subject: str, sequence: int) -> Event:
    return new_event(
        "chorus.identity.employee.offboarded",
        source="/test",
        subject=subject,
        sequence=sequence,
        data=EmployeeOffboarded(
            employee_id=subject,
            email=f"{subject}@example.com",
            given_name="A",
            family_name="B",
            unit_id="company",
            status=EmploymentStatus.OFFBOARDED,
            offboarded_at=datetime.now(UTC),
            reason=f"step {sequence}",
        ),
    )


@contextlib.asynccontextmanager
async def running_relay(ns, mongo, *, faults: str = "", sweep_seconds: float = 0.2, **tuning):
    database = mongo[ns.database("kit")]
    relay = OutboxRelay(
        collections=[database["things"]],
        leases=database["relay_leases"],
        producer_factory=lambda: create_producer(ns.infra.bootstrap, client_id="test-relay"),
        topic_prefix=ns.topic_prefix,
        sweep_seconds=sweep_seconds,
        lease_seconds=2,
        faults=FaultPoints(faults),
        **tuning,
    )
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_relay_publishes_in_aggregate_order_and_clears_the_outbox(ns, mongo) -> None:
    await ensure_topics(ns.infra.bootstrap, [EMPLOYEE], prefix=ns.topic_prefix)
    things = mongo[ns.database("kit")]["things"]
    await ensure_outbox_index(things)
    async with running_relay(ns, mongo) as relay:
        for n in range(20):
            # Even aggregates hand their events to the relay; odd ones wait for its sweep.
            subject = f"agg-{n}"
            first = offboarded(subject, 1)
            await things.insert_one({"_id": subject, **new_document_outbox([first])})
            if n % 2 == 0:
                relay.notify(things, subject, [first])
            for seq in (2, 3):
                later = offboarded(subject, seq)
                await things.update_one({"_id": subject}, {"$set": outbox_fields([later])})
                if n % 2 == 0:
                    relay.notify(things, subject, [later])
        topic = ns.topic(EMPLOYEE.name)
        records = await eventually(
            lambda: read_topic(ns.infra.bootstrap, topic),
            lambda r: len(r) >= 60,
            what="60 events on Kafka",
        )
        assert len(records) == 60
        by_key: dict[bytes, list[int]] = defaultdict(list)
        for record in records:
            by_key[record.key].append(int(dict(record.headers)["ce_sequence"]))
        assert all(seqs == [1, 2, 3] for seqs in by_key.values()), by_key
        await eventually(
            lambda: things.count_documents({PENDING: True}), lambda n: n == 0, what="outbox drained"
        )
        doc = await things.find_one({"_id": "agg-0"})
        assert doc is not None and doc["outbox"] == {} and doc["sequence"] == 3


async def test_a_carrier_document_publishes_other_aggregates_events_once(ns, mongo) -> None:
    """Events of several aggregates with the same sequence numbers, carried by new documents:
    handed over (one carrier) or found by the sweep (the other), each published once in the
    order given, then cleared."""
    await ensure_topics(ns.infra.bootstrap, [EMPLOYEE], prefix=ns.topic_prefix)
    things = mongo[ns.database("kit")]["things"]
    await ensure_outbox_index(things)
    carried = {
        name: [offboarded(f"{name}-{n}", seq) for n in range(3) for seq in (4, 5)]
        for name in ("handed", "swept")
    }
    async with running_relay(ns, mongo) as relay:
        for name, events in carried.items():
            await things.insert_one({"_id": name, **carrier_outbox(events)})
        relay.notify(things, "handed", carried["handed"], carried=True)
        topic = ns.topic(EMPLOYEE.name)
        records = await eventually(
            lambda: read_topic(ns.infra.bootstrap, topic),
            lambda r: len(r) >= 12,
            what="12 events on Kafka",
        )
        await eventually(
            lambda: things.count_documents({PENDING: True}), lambda n: n == 0, what="cleared"
        )
    assert sorted(dict(r.headers)["ce_id"].decode() for r in records) == sorted(
        e.id for events in carried.values() for e in events
    )
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for record in records:
        by_key[record.key].append(int(dict(record.headers)["ce_sequence"]))
    assert len(by_key) == 6 and all(seqs == [4, 5] for seqs in by_key.values()), by_key
    for name in carried:
        doc = await things.find_one({"_id": name})
        assert doc is not None and doc["outbox"] == {} and doc["sequence"] == 6


async def test_writes_handed_over_during_a_long_sweep_are_published_once(ns, mongo) -> None:
    """A sweep working through a backlog in many rounds while writers hand over new
    events: each round finds some of those too. The relay remembers only so many sent ids,
    so what was handed over must go out between rounds, not once the whole sweep is done
    (when its ids are forgotten and it would be sent again; 2,142 duplicates in one bulk)."""
    await ensure_topics(ns.infra.bootstrap, [EMPLOYEE], prefix=ns.topic_prefix)
    things = mongo[ns.database("kit")]["things"]
    await ensure_outbox_index(things)
    backlog = [offboarded(f"left-{n}", 1) for n in range(200)]  # writers that died
    await things.insert_many([{"_id": e.subject, **new_document_outbox([e])} for e in backlog])
    fresh = [offboarded(f"new-{n}", 1) for n in range(100)]
    async with running_relay(
        ns, mongo, sweep_seconds=3600, batch_documents=5, recently_sent_kept=50
    ) as relay:
        for event in fresh:
            await things.insert_one({"_id": event.subject, **new_document_outbox([event])})
            relay.notify(things, event.subject, [event])
        await eventually(
            lambda: things.count_documents({PENDING: True}), lambda n: n == 0, what="drained"
        )
        topic = ns.topic(EMPLOYEE.name)
        records = await eventually(
            lambda: read_topic(ns.infra.bootstrap, topic),
            lambda r: len(r) >= 300,
            what="300 events on Kafka",
        )
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    assert sorted(ids) == sorted(e.id for e in backlog + fresh)


async def test_a_dead_writers_events_stay_pending_under_a_live_writers(ns, mongo) -> None:
    """A writer died before its relay published (its events wait for a sweep); a live
    writer then adds events to the same document and its relay publishes those at once.
    Clearing them must not clear the document's pending flag: the dead writer's events
    would never be swept. The next sweep publishes them (and the live ones again)."""
    await ensure_topics(ns.infra.bootstrap, [EMPLOYEE], prefix=ns.topic_prefix)
    things = mongo[ns.database("kit")]["things"]
    await ensure_outbox_index(things)
    dead, live, later = offboarded("agg-d", 1), offboarded("agg-d", 2), offboarded("agg-d", 3)
    topic = ns.topic(EMPLOYEE.name)
    async with running_relay(ns, mongo, sweep_seconds=3600) as relay:  # swept at start only
        await eventually(
            lambda: mongo[ns.database("kit")]["relay_leases"].count_documents({}),
            lambda n: n == 1,
            what="the start sweep done",
        )
        await things.insert_one({"_id": "agg-d", **new_document_outbox([dead])})  # no notify
        await things.update_one({"_id": "agg-d"}, {"$set": outbox_fields([live])})
        relay.notify(things, "agg-d", [live])
        await eventually(lambda: read_topic(ns.infra.bootstrap, topic), lambda r: len(r) == 1)
        # A relay round clears what it sent before the next round starts: once `later` is
        # out, `live` was cleared (or, rightly, kept).
        await things.update_one({"_id": "agg-d"}, {"$set": outbox_fields([later])})
        relay.notify(things, "agg-d", [later])
        await eventually(lambda: read_topic(ns.infra.bootstrap, topic), lambda r: len(r) == 2)
        doc = await things.find_one({"_id": "agg-d"})
        assert doc is not None and doc[PENDING] and "e000000000001" in doc["outbox"]
    async with running_relay(ns, mongo):  # a sweeping relay (the lease ran out meanwhile)
        records = await eventually(
            lambda: read_topic(ns.infra.bootstrap, topic),
            lambda r: {dict(x.headers)["ce_id"] for x in r} >= {dead.id.encode()},
            timeout=30,
            what="the dead writer's event published",
        )
        await eventually(lambda: things.count_documents({PENDING: True}), lambda n: n == 0)
    assert {dict(r.headers)["ce_id"] for r in records} == {
        e.id.encode() for e in (dead, live, later)
    }
    doc = await things.find_one({"_id": "agg-d"})
    assert doc is not None and doc["outbox"] == {}


async def test_a_relay_dying_after_the_ack_republishes_with_the_same_id(ns, mongo) -> None:
    await ensure_topics(ns.infra.bootstrap, [EMPLOYEE], prefix=ns.topic_prefix)
    things = mongo[ns.database("kit")]["things"]
    event = offboarded("agg-x", 1)
    await things.insert_one({"_id": "agg-x", **new_document_outbox([event])})
    topic = ns.topic(EMPLOYEE.name)
    async with running_relay(ns, mongo, faults="relay.after_publish"):
        # Published and acknowledged, yet still pending in the database: the window.
        await eventually(lambda: read_topic(ns.infra.bootstrap, topic), lambda r: len(r) == 1)
        assert await things.count_documents({PENDING: True}) == 1
    async with running_relay(ns, mongo):  # the restarted relay (lease expired meanwhile)
        records = await eventually(
            lambda: read_topic(ns.infra.bootstrap, topic),
            lambda r: len(r) == 2,
            timeout=30,
            what="republished",
        )
        await eventually(lambda: things.count_documents({PENDING: True}), lambda n: n == 0)
    ids = {dict(r.headers)["ce_id"] for r in records}
    assert ids == {event.id.encode()}
    # ... and an idempotent consumer applies it once.
    view = mongo[ns.database("kit")]["view"]
    applied = [
        await apply_in_order(
            view, aggregate_id="agg-x", sequence=1, update={"$push": {"history": event.id}}
        )
        for _ in records
    ]
    assert applied == [True, False]
    doc = await view.find_one({"_id": "agg-x"})
    assert doc is not None and doc["history"] == [event.id]


async def test_only_one_relay_holds_a_collection(ns, mongo) -> None:
    await ensure_topics(ns.infra.bootstrap, [EMPLOYEE], prefix=ns.topic_prefix)
    things = mongo[ns.database("kit")]["things"]
    async with running_relay(ns, mongo), running_relay(ns, mongo):
        for n in range(30):
            await things.insert_one(
                {"_id": f"a{n}", **new_document_outbox([offboarded(f"a{n}", 1)])}
            )
        await eventually(lambda: things.count_documents({PENDING: True}), lambda n: n == 0)
        leases = await mongo[ns.database("kit")]["relay_leases"].find().to_list()
    assert len(leases) == 1
    records = await read_topic(ns.infra.bootstrap, ns.topic(EMPLOYEE.name))
    assert len(records) == 30  # not 60: the second relay published nothing
