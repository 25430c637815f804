"""Two consumer groups feed access's employment mirror; whichever runs ahead keeps it whole.

The mirror's group (`access`) and the leaver group (`access-offboarding`) both read
identity's employee topic and race to apply each event. The mirror applies an event only
above the last sequence it holds, so a group that wrote only the departures would, when
ahead, make the mirror skip the events in between for good (a `reinstated` lost behind a
`moved`: the person stays suspended in access). This test takes the race to its extreme:
the mirror's group starts at the end of the topic, so the leaver group alone has to bring
the mirror to the whole history, in order.
"""

from __future__ import annotations

import asyncio

import httpx

from chorus_kit.events.catalogue import EMPLOYEE
from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire
from tests.support.kafka import commit_group_at_end, end_offset_total
from tests.support.polling import eventually

LIFECYCLE = ["hired", "suspended", "reinstated", "moved", "role_changed"]


def post(url: str, token: str, body: dict[str, object] | None = None) -> httpx.Response:
    return httpx.post(url, json=body or {}, headers=bearer(token), timeout=10)


async def test_the_leaver_group_alone_applies_every_employee_event_in_order(ns, mongo) -> None:
    identity = ns.service("identity")
    identity.start()
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "dept-a")
    create_unit(identity.url, admin, "dept-b")
    person = hire(identity.url, admin, 1, unit_id="dept-a").json()
    base = f"{identity.url}/v1/employees/{person['id']}"
    assert post(f"{base}/suspend", admin, {"reason": "leave"}).status_code == 200
    assert post(f"{base}/reinstate", admin).status_code == 200
    assert post(f"{base}/move", admin, {"unit_id": "dept-b"}).status_code == 200
    roles = httpx.put(
        f"{base}/roles",
        json={"roles": [{"role": "comms", "unit": "dept-b"}]},
        headers=bearer(admin),
    )
    assert roles.status_code == 200

    topic = ns.topic(EMPLOYEE.name)
    await eventually(
        lambda: end_offset_total(ns.infra.bootstrap, topic),
        lambda total: total >= len(LIFECYCLE),
        what="identity's lifecycle events on the employee topic",
    )
    await commit_group_at_end(ns.infra.bootstrap, f"{ns.topic_prefix}access", topic)

    access = ns.service("access")
    await asyncio.to_thread(access.start)
    view = mongo[ns.database("access")]["employment"]
    record = await eventually(
        lambda: view.find_one({"_id": person["id"]}),
        lambda d: d is not None and len(d.get("history", [])) == len(LIFECYCLE),
        timeout=60,
        what="the whole lifecycle in access's mirror, through the leaver group",
    )
    assert [h["type"].rsplit(".", 1)[1] for h in record["history"]] == LIFECYCLE
    assert record["status"] == "active"
    assert record["unit_id"] == "dept-b"
    assert record["roles"] == [{"role": "comms", "unit": "dept-b"}]
