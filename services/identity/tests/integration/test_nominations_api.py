"""Opinion leaders by peer nomination against the real service: windows, ballots that
replace each other, counts for admins only, leaders and their events once per window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from chorus_kit.events.catalogue import POLICY
from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire
from tests.support.kafka import read_topic
from tests.support.polling import eventually


@pytest.fixture
def identity(ns):
    service = ns.service("identity")
    service.start()
    return service


def open_window(url: str, token: str, **fields) -> httpx.Response:
    closes = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"closes_at": closes, **fields}
    return httpx.post(f"{url}/v1/nomination-windows", json=body, headers=bearer(token), timeout=10)


def nominate(url: str, token: str, window_id: str, *nominees: str) -> httpx.Response:
    return httpx.put(
        f"{url}/v1/nomination-windows/{window_id}/ballot",
        json={"nominees": list(nominees)},
        headers=bearer(token),
        timeout=10,
    )


def leader_events(ns, window_id: str):
    async def read() -> list[dict]:
        records = await read_topic(ns.infra.bootstrap, ns.topic(POLICY.name))
        return [
            json.loads(r.value)
            for r in records
            if dict(r.headers)["ce_type"] == b"chorus.identity.policy.opinion_leader_identified"
            and r.key == window_id.encode()
        ]

    return read


async def test_peers_nominate_and_leaders_are_announced_once(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    p = [hire(identity.url, admin, f"n{i}").json()["id"] for i in range(4)]
    token = {i: ns.token(Role.EMPLOYEE, "company", sub=i) for i in p}

    assert open_window(identity.url, token[p[0]]).status_code == 403
    opened = open_window(identity.url, admin, threshold=2, max_nominees=2)
    assert opened.status_code == 201, opened.text
    window = opened.json()
    assert window["phase"] == "open" and window["threshold"] == 2
    window_id = window["id"]

    itself = nominate(identity.url, token[p[0]], window_id, p[0])
    assert itself.status_code == 400 and itself.json()["code"] == "self_nomination"
    assert nominate(identity.url, token[p[0]], window_id, p[1], p[2], p[3]).status_code == 400
    stranger = nominate(identity.url, token[p[0]], window_id, "nobody")
    assert stranger.json()["code"] == "nominee_not_eligible"
    outsider = nominate(identity.url, ns.token(Role.EMPLOYEE, sub="nobody"), window_id, p[1])
    assert outsider.status_code == 403

    assert nominate(identity.url, token[p[0]], window_id, p[1], p[2]).status_code == 200
    assert nominate(identity.url, token[p[1]], window_id, p[2]).status_code == 200
    assert nominate(identity.url, token[p[2]], window_id, p[1]).status_code == 200
    assert nominate(identity.url, token[p[3]], window_id, p[2], p[1]).status_code == 200
    # Sending again replaces the list: p0 now names only p2, so p1 has two peers left.
    assert nominate(identity.url, token[p[0]], window_id, p[2]).status_code == 200
    mine = httpx.get(
        f"{identity.url}/v1/nomination-windows/{window_id}/ballot", headers=bearer(token[p[0]])
    )
    assert mine.json()["nominees"] == [p[2]]

    counts_url = f"{identity.url}/v1/nomination-windows/{window_id}/counts"
    assert httpx.get(counts_url, headers=bearer(token[p[1]])).status_code == 403
    counts = httpx.get(counts_url, headers=bearer(admin)).json()
    assert counts == [
        {"employee_id": p[2], "nominations": 3},
        {"employee_id": p[1], "nominations": 2},
    ]

    leaders_url = f"{identity.url}/v1/nomination-windows/{window_id}/leaders"
    early = httpx.get(leaders_url, headers=bearer(token[p[3]]))
    assert early.status_code == 409 and early.json()["code"] == "window_not_closed"
    close_url = f"{identity.url}/v1/nomination-windows/{window_id}/close"
    assert httpx.post(close_url, headers=bearer(token[p[0]])).status_code == 403
    closed = httpx.post(close_url, headers=bearer(admin))
    assert closed.status_code == 200 and closed.json()["phase"] == "closed"
    again = httpx.post(close_url, headers=bearer(admin))
    assert again.status_code == 409 and again.json()["code"] == "window_closed"
    late = nominate(identity.url, token[p[3]], window_id, p[0])
    assert late.status_code == 409

    leaders = httpx.get(leaders_url, headers=bearer(token[p[3]])).json()
    assert [leader["employee_id"] for leader in leaders["leaders"]] == [p[2], p[1]]
    assert "nominations" not in json.dumps(leaders)

    events = await eventually(
        leader_events(ns, window_id), lambda found: len(found) >= 2, what="leader events"
    )
    assert sorted(e["employee_id"] for e in events) == sorted([p[1], p[2]])
    assert all(e["threshold"] == 2 and e["unit_id"] == "company" for e in events)

    async def closed_entries():
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{identity.url}/v1/audit",
                params={"target_id": window_id},
                headers=bearer(admin),
            )
        return response.json()["items"]

    entries = await eventually(
        closed_entries, lambda found: len(found) == 2, what="open and close audited"
    )
    assert {e["action"] for e in entries} == {
        "nomination_window.opened",
        "nomination_window.closed",
    }


async def test_a_window_closes_by_itself_at_its_end(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    p = [hire(identity.url, admin, f"m{i}").json()["id"] for i in range(3)]
    ends = datetime.now(UTC) + timedelta(seconds=4)
    window = open_window(identity.url, admin, threshold=2, closes_at=ends.isoformat()).json()
    for nominator in p[:2]:
        token = ns.token(Role.EMPLOYEE, sub=nominator)
        assert nominate(identity.url, token, window["id"], p[2]).status_code == 200

    async def window_now():
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{identity.url}/v1/nomination-windows/{window['id']}", headers=bearer(admin)
            )
        return response.json()

    closed = await eventually(
        window_now, lambda w: w["closed_at"] is not None, what="closed by the service"
    )
    assert datetime.fromisoformat(closed["closed_at"]) >= ends
    events = await eventually(leader_events(ns, window["id"]), what="the leader's event")
    assert [e["employee_id"] for e in events] == [p[2]]


def test_windows_are_opened_and_read_within_ones_unit(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "subsidiary-a", kind="subsidiary")
    create_unit(identity.url, admin, "subsidiary-b", kind="subsidiary")
    in_a = hire(identity.url, admin, "a1", unit_id="subsidiary-a").json()["id"]
    in_b = hire(identity.url, admin, "b1", unit_id="subsidiary-b").json()["id"]
    admin_a = ns.token(Role.ADMIN, "subsidiary-a")
    assert open_window(identity.url, admin_a, unit_id="subsidiary-b").status_code == 403
    past = open_window(
        identity.url, admin_a, unit_id="subsidiary-a", closes_at="2020-01-01T00:00:00Z"
    )
    assert past.status_code == 400 and past.json()["code"] == "bad_window"
    window = open_window(identity.url, admin_a, unit_id="subsidiary-a", threshold=1).json()
    # Someone in B neither nominates in A's window nor is nominated in it.
    from_b = nominate(identity.url, ns.token(Role.EMPLOYEE, sub=in_b), window["id"], in_a)
    assert from_b.status_code == 403 and from_b.json()["code"] == "not_in_window_unit"
    colleague = hire(identity.url, admin, "a2", unit_id="subsidiary-a").json()["id"]
    of_b = nominate(identity.url, ns.token(Role.EMPLOYEE, sub=colleague), window["id"], in_b)
    assert of_b.json()["code"] == "nominee_not_eligible"
    admin_b = ns.token(Role.ADMIN, "subsidiary-b")
    counts = f"{identity.url}/v1/nomination-windows/{window['id']}/counts"
    assert httpx.get(counts, headers=bearer(admin_b)).status_code == 403
    assert httpx.get(counts, headers=bearer(admin_a)).status_code == 200
    close = f"{identity.url}/v1/nomination-windows/{window['id']}/close"
    assert httpx.post(close, headers=bearer(admin_b)).status_code == 403
    listed = httpx.get(f"{identity.url}/v1/nomination-windows", headers=bearer(admin_b)).json()
    assert [w["id"] for w in listed] == [window["id"]]
