"""The leaver flow against real processes: identity says someone left, was suspended or
moved; access ends their grants, hands their ownerships up the chain, and says so once.

Identity and access run as processes on a real Kafka and FerretDB; people, accounts and
grants are made through the APIs, and what access did is read from its topics and API.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from chorus_kit.events.catalogue import EMPLOYEE
from tests.support.api import bearer, hire
from tests.support.kafka import committed_offsets, produce_raw, read_topic
from tests.support.polling import eventually

COMPLETED = "chorus.access.offboarding.completed"


async def hire_under(company: Any, name: str, unit: str, manager: str | None = None) -> str:
    """Hire `name` into `unit`, reporting to `manager` (a name), and wait until access knows."""
    company.hired += 1
    fields: dict[str, Any] = {"unit_id": unit}
    if manager:
        fields["manager_id"] = company.staff[manager]
    response = await asyncio.to_thread(
        hire, company.identity.url, company.root, f"{name}-{company.hired}", **fields
    )
    assert response.status_code == 201, response.text
    company.staff[name] = response.json()["id"]
    await company.known([company.staff[name]])
    return str(company.staff[name])


async def completions(company: Any) -> list[dict[str, Any]]:
    return [
        d for t, _, d, _ in await company.events("chorus.access.offboarding.v1") if t == COMPLETED
    ]


async def completion_of(company: Any, person: str) -> dict[str, Any]:
    found = await eventually(
        lambda: completions(company),
        lambda done: any(d["person_id"] == company.staff[person] for d in done),
        timeout=60,
        what=f"{person}'s offboarding completed",
    )
    return next(d for d in found if d["person_id"] == company.staff[person])


def identity_call(company: Any, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{company.identity.url}{path}", json=body, headers=bearer(company.root), timeout=10
    )


async def test_a_leaver_loses_every_grant_and_their_ownership_goes_up_the_chain(company) -> None:
    await company.units(("sub-a", "subsidiary", "company"))
    await hire_under(company, "boss", "company")
    await hire_under(company, "pat", "company")
    await hire_under(company, "mgr", "sub-a", manager="boss")
    await hire_under(company, "zed", "sub-a")
    await hire_under(company, "ann", "sub-a", manager="mgr")
    regional = company.register("ann-regional", "sub-a", ["ann", "zed"])
    brand = company.register("brand", "company", ["pat", "boss"])
    jobs = company.register("jobs", "company", ["pat", "boss"])
    publisher = company.grant(brand["id"], "ann", "publisher", "pat")
    viewer = company.grant(jobs["id"], "ann", "viewer", "boss")
    owner_grant = next(
        g
        for g in (
            await company.fetch(
                "GET", "/v1/grants", company.root, params={"holder_id": company.staff["ann"]}
            )
        )["items"]
        if g["role"] == "owner"
    )

    response = identity_call(
        company, f"/v1/employees/{company.staff['ann']}/offboard", {"reason": "left"}
    )
    assert response.status_code == 200, response.text

    done = await completion_of(company, "ann")
    assert done["trigger"] == "offboarded"
    assert done["grants_revoked"] == sorted([publisher["id"], viewer["id"], owner_grant["id"]])
    # mgr is ann's manager and works in sub-a: the nearest eligible one.
    assert done["ownership"] == [
        {
            "account_id": regional["id"],
            "from_id": company.staff["ann"],
            "to_id": company.staff["mgr"],
        }
    ]
    account = await company.fetch("GET", f"/v1/accounts/{regional['id']}", company.root)
    assert sorted(account["owners"]) == sorted([company.staff["zed"], company.staff["mgr"]])
    for grant_id in done["grants_revoked"]:
        grant = await company.fetch("GET", f"/v1/grants/{grant_id}", company.root)
        assert grant["revoked_at"] is not None

    # One event per effect on the topics.
    revoked = [
        (s, i)
        for t, s, d, i in await company.events("chorus.access.grant.v1")
        if t == "chorus.access.grant.revoked" and d.get("offboarding_id") == done["offboarding_id"]
    ]
    assert sorted(s for s, _ in revoked) == done["grants_revoked"]
    on_account = [
        (t, d)
        for t, s, d, _ in await company.events("chorus.access.account.v1")
        if s == regional["id"]
    ]
    kinds = Counter(t for t, _ in on_account)
    assert kinds["chorus.access.account.owner_removed"] == 1
    assert kinds["chorus.access.account.owner_added"] == 1
    [(_, added)] = [(t, d) for t, d in on_account if t == "chorus.access.account.owner_added"]
    assert (added["owner_id"], added["handed_over_from"]) == (
        company.staff["mgr"],
        company.staff["ann"],
    )

    # Identity's event delivered again (as after a crash): nothing happens twice.
    await redeliver_and_wait(company, company.staff["ann"], "chorus.identity.employee.offboarded")
    assert (
        len([d for d in await completions(company) if d["person_id"] == company.staff["ann"]]) == 1
    )
    again = [
        i
        for t, _, d, i in await company.events("chorus.access.grant.v1")
        if t == "chorus.access.grant.revoked" and d.get("offboarding_id") == done["offboarding_id"]
    ]
    assert sorted(again) == sorted(i for _, i in revoked)


async def redeliver_and_wait(company: Any, subject: str, event_type: str) -> None:
    """Put identity's event on its topic again and wait until the leavers' group is past it."""
    topic = company.ns.topic(EMPLOYEE.name)
    bootstrap = company.ns.infra.bootstrap
    [record] = [
        r
        for r in await read_topic(bootstrap, topic)
        if r.key == subject.encode() and dict(r.headers)["ce_type"].decode() == event_type
    ]
    await produce_raw(bootstrap, topic, [(record.key, record.value, list(record.headers))])
    ends = {
        tp: offset
        for tp, offset in (await _ends(bootstrap, topic)).items()
        if tp.partition == record.partition
    }
    group = f"{company.ns.topic_prefix}access-offboarding"
    await eventually(
        lambda: committed_offsets(bootstrap, group),
        lambda offsets: all(offsets.get(tp, -1) >= end for tp, end in ends.items()),
        what="the leavers' group past the redelivered event",
    )


async def _ends(bootstrap: str, topic: str) -> dict[Any, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def test_a_mover_loses_the_unit_left_and_a_suspended_owner_leaves_nobody(company) -> None:
    await company.units(("sub-a", "subsidiary", "company"), ("sub-b", "subsidiary", "company"))
    await hire_under(company, "boss", "company")
    await hire_under(company, "pat", "company")
    await hire_under(company, "ann", "sub-a", manager="boss")
    await hire_under(company, "sam", "sub-b", manager="boss")
    regional = company.register("a-regional", "sub-a", ["ann"])
    brand = company.register("brand2", "company", ["pat", "boss"])
    kept = company.grant(brand["id"], "ann", "publisher", "pat")
    b_account = company.register("b-regional", "sub-b", ["sam"])

    # ann moves from sub-a to sub-b: sub-a's account goes (boss works outside sub-a: nobody
    # takes over), the company-wide grant stays.
    moved = identity_call(
        company, f"/v1/employees/{company.staff['ann']}/move", {"unit_id": "sub-b"}
    )
    assert moved.status_code == 200, moved.text
    done = await completion_of(company, "ann")
    assert done["trigger"] == "moved"
    assert kept["id"] not in done["grants_revoked"] and len(done["grants_revoked"]) == 1
    assert done["ownership"] == [
        {"account_id": regional["id"], "from_id": company.staff["ann"], "to_id": None}
    ]
    still = await company.fetch("GET", f"/v1/grants/{kept['id']}", company.root)
    assert still["revoked_at"] is None

    # sam, sole owner of sub-b's account, is suspended: it is left without owners (alert).
    suspended = identity_call(
        company, f"/v1/employees/{company.staff['sam']}/suspend", {"reason": "investigation"}
    )
    assert suspended.status_code == 200, suspended.text
    done = await completion_of(company, "sam")
    assert done["trigger"] == "suspended"
    assert done["ownership"] == [
        {"account_id": b_account["id"], "from_id": company.staff["sam"], "to_id": None}
    ]
    account = await company.fetch("GET", f"/v1/accounts/{b_account['id']}", company.root)
    assert account["owners"] == []
