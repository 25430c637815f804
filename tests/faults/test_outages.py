"""The broker or the database away for 20 s: writes keep working, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from chorus_kit.events import new_event
from chorus_kit.events.catalogue import EMPLOYEE
from chorus_kit.events.identity import EmployeeHired, EmploymentStatus, Role
from tests.support.api import hire
from tests.support.kafka import end_offset_total, produce_raw
from tests.support.polling import eventually

OUTAGE_SECONDS = 20


def _counter(metrics_text: str, name: str, *, group: str | None = None) -> float:
    """Sum of a metric's series, only those of consumer `group` when one is named (a service
    runs several consumer groups)."""
    labels = rf'[^}}]*group="{re.escape(group)}"[^}}]*' if group else r"[^}]*"
    return sum(
        float(v) for v in re.findall(rf"^{name}\{{{labels}\}} ([0-9.e+]+)$", metrics_text, re.M)
    )


async def _all_applied_once(view, ids: list[str]) -> bool:
    docs = await view.find({"_id": {"$in": ids}}, {"history": 1}).to_list()
    return len(docs) == len(ids) and all(len(d["history"]) == 1 for d in docs)


async def test_kafka_away_for_20s_while_people_are_hired(ns, mongo, infra) -> None:
    if infra.kafka is None:
        pytest.skip("needs the broker this test session started itself")
    identity = ns.service("identity")
    identity.start()
    access = ns.service("access")
    access.start()
    admin = ns.token(Role.ADMIN, "company")
    ids = [hire(identity.url, admin, "before").json()["id"]]
    view = mongo[ns.database("access")]["employment"]
    await eventually(lambda: view.find_one({"_id": ids[0]}), what="platform warmed up")

    infra.kafka.stop()
    began = time.monotonic()
    n = 0
    while time.monotonic() - began < OUTAGE_SECONDS:
        response = hire(identity.url, admin, n)
        assert response.status_code == 201, response.text  # the outbox keeps writes working
        ids.append(response.json()["id"])
        n += 1
        await asyncio.sleep(0.25)  # a steady trickle of hires through the outage
    assert httpx.get(f"{identity.url}/readyz").status_code == 200  # readiness ignores Kafka
    infra.kafka.start()

    await eventually(
        lambda: _all_applied_once(view, ids),
        timeout=120,
        what=f"all {len(ids)} hires applied once after Kafka returned",
    )
    employees = mongo[ns.database("identity")]["employees"]
    await eventually(
        lambda: employees.count_documents({"outbox_pending": True}),
        lambda pending: pending == 0,
        what="identity's outbox drained",
    )


async def test_database_away_for_20s_while_events_arrive(ns, mongo, infra) -> None:
    if infra.ferretdb is None:
        pytest.skip("needs the database server this test session started itself")
    access = ns.service("access")
    access.start()
    # identity's staff directory follows the same topic in every replica: it must wait for
    # the database too, not stop the process
    identity = ns.service("identity")
    identity.start()
    admin = ns.token(Role.ADMIN, "company")
    topic = ns.topic(EMPLOYEE.name)
    view = mongo[ns.database("access")]["employment"]

    def hired() -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        subject = str(uuid.uuid4())
        event = new_event(
            "chorus.identity.employee.hired",
            source="/test",
            subject=subject,
            sequence=1,
            data=EmployeeHired(
                employee_id=subject,
                email=f"{subject}@example.com",
                given_name="A",
                family_name="B",
                unit_id="company",
                status=EmploymentStatus.ACTIVE,
                start_date=datetime.now(UTC),
            ),
        )
        return event.to_kafka()

    first = hired()
    await produce_raw(ns.infra.bootstrap, topic, [first])
    await eventually(lambda: view.find_one({"_id": first[0].decode()}), what="warmed up")
    retries_before = _counter(
        httpx.get(f"{access.url}/metrics").text, "chorus_consumer_retries_total"
    )

    infra.ferretdb.stop()
    began = time.monotonic()
    sent = []
    while time.monotonic() - began < OUTAGE_SECONDS:
        message = hired()
        await produce_raw(ns.infra.bootstrap, topic, [message])
        sent.append(message[0].decode())
        await asyncio.sleep(0.5)
    retries = _counter(httpx.get(f"{access.url}/metrics").text, "chorus_consumer_retries_total")
    assert retries > retries_before  # it was failing and retrying, not idle
    infra.ferretdb.start()

    await eventually(
        lambda: _all_applied_once(view, sent),
        timeout=120,
        what=f"all {len(sent)} events applied once after the database returned",
    )
    assert await end_offset_total(ns.infra.bootstrap, f"{topic}.access.dlq") == 0
    assert identity.is_alive()
    after = hire(identity.url, admin, "after-outage").json()["id"]
    listed = httpx.get(
        f"{identity.url}/v1/employees",
        params={"q": "personafter-outage"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert [e["id"] for e in listed.json()["items"]] == [after]


async def test_two_replicas_share_the_work_and_one_takes_over(ns, mongo) -> None:
    identity = ns.service("identity")
    identity.start()
    replica_a = ns.service("access", instance="a")
    replica_b = ns.service("access", instance="b")
    replica_a.start()
    replica_b.start()
    admin = ns.token()
    view = mongo[ns.database("access")]["employment"]
    group = f"{ns.topic_prefix}access"  # the group that consumes identity's employee events

    async def assigned() -> list[float]:
        return [
            _counter(
                httpx.get(f"{r.url}/metrics").text,
                "chorus_consumer_assigned_partitions",
                group=group,
            )
            for r in (replica_a, replica_b)
        ]

    shares = await eventually(
        assigned,
        lambda s: all(s) and sum(s) == EMPLOYEE.partitions,
        what="both replicas holding partitions",
    )
    assert sorted(shares) == [3, 3]
    ids = [hire(identity.url, admin, n).json()["id"] for n in range(30)]
    await eventually(lambda: _all_applied_once(view, ids), timeout=60, what="first 30 applied")
    applied = {
        name: _counter(
            httpx.get(f"{r.url}/metrics").text, "chorus_consumer_handled_total", group=group
        )
        for name, r in (("a", replica_a), ("b", replica_b))
    }
    assert applied["a"] > 0 and applied["b"] > 0, applied  # both held partitions

    replica_a.kill()
    ids += [hire(identity.url, admin, n).json()["id"] for n in range(30, 60)]
    await eventually(
        lambda: _all_applied_once(view, ids),
        timeout=90,
        what="all 60 applied once after replica a died",
    )


async def test_services_started_while_kafka_is_away_wait_for_it(ns, mongo, infra) -> None:
    if infra.kafka is None:
        pytest.skip("needs the broker this test session started itself")
    infra.kafka.stop()
    try:
        identity = ns.service("identity")
        access = ns.service("access")
        for service in (identity, access):
            service.start(until_ready=False)  # alive, not crash-looping
        # Not ready: they have not read the session revocations yet (they cannot).
        assert httpx.get(f"{access.url}/readyz").status_code == 503
        hired = hire(identity.url, ns.token(), 1)  # the outbox keeps writes working
        assert hired.status_code == 201
    finally:
        infra.kafka.start()
    await eventually(
        lambda: asyncio.to_thread(lambda: identity.is_ready() and access.is_ready()),
        timeout=90,
        what="both ready once Kafka is back",
    )
    view = mongo[ns.database("access")]["employment"]
    await eventually(
        lambda: view.find_one({"_id": hired.json()["id"]}),
        timeout=60,
        what="the hire made while Kafka was away reaches access",
    )
