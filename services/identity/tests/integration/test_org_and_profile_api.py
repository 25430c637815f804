"""The org tree, profiles with versions, scheduled offboarding and the audit log, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from chorus_kit.events.catalogue import EMPLOYEE, ORG_UNIT
from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire
from tests.support.kafka import read_topic
from tests.support.polling import eventually


@pytest.fixture
def identity(ns):
    service = ns.service("identity")
    service.start()
    return service


def event_types(records) -> list[str]:
    return [dict(r.headers)["ce_type"].decode() for r in records]


async def test_the_org_tree_is_built_moved_and_closed_with_events(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "sub-a", kind="subsidiary", name="Subsidiary A")
    create_unit(identity.url, admin, "sub-b", kind="subsidiary")
    create_unit(identity.url, admin, "a-press", parent_id="sub-a")
    units = httpx.get(f"{identity.url}/v1/org-units", headers=bearer(admin)).json()
    assert [u["id"] for u in units][:1] == ["company"]
    assert {u["id"]: u["path"] for u in units}["a-press"] == ["a-press", "sub-a", "company"]

    def call(method: str, path: str, body: dict[str, object] | None = None) -> httpx.Response:
        return httpx.request(
            method, f"{identity.url}/v1/org-units/{path}", json=body, headers=bearer(admin)
        )

    cycle = call("POST", "sub-a/move", {"parent_id": "a-press"})
    assert cycle.status_code == 409 and cycle.json()["code"] == "unit_cycle"
    wrong_kind = create_unit_raw(identity.url, admin, "x", kind="subsidiary", parent_id="a-press")
    assert wrong_kind.status_code == 400 and wrong_kind.json()["code"] == "invalid_parent"
    assert call("POST", "a-press/move", {"parent_id": "sub-b"}).json()["parent_id"] == "sub-b"
    assert call("PATCH", "a-press", {"name": "Press office"}).json()["name"] == "Press office"
    person = hire(identity.url, admin, 1, unit_id="a-press").json()
    busy = call("POST", "a-press/close")
    assert busy.status_code == 409 and busy.json()["code"] == "unit_not_empty"
    moved = httpx.post(
        f"{identity.url}/v1/employees/{person['id']}/move",
        json={"unit_id": "sub-b"},
        headers=bearer(admin),
    )
    assert moved.status_code == 200, moved.text
    assert call("POST", "a-press/close").json()["status"] == "closed"
    closed_hire = hire(identity.url, admin, 2, unit_id="a-press")
    assert closed_hire.status_code == 409 and closed_hire.json()["code"] == "unit_closed"

    records = await eventually(
        lambda: read_topic(ns.infra.bootstrap, ns.topic(ORG_UNIT.name)),
        lambda r: "chorus.identity.org_unit.closed" in event_types(r),
        what="the org-unit events on Kafka",
    )
    assert event_types(records).count("chorus.identity.org_unit.created") == 4  # + company


def create_unit_raw(url: str, token: str, unit_id: str, **fields: str) -> httpx.Response:
    body = {"id": unit_id, "name": unit_id, **fields}
    return httpx.post(f"{url}/v1/org-units", json=body, headers=bearer(token))


def test_an_admin_of_a_subsidiary_shapes_only_its_subtree(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "sub-a", kind="subsidiary")
    create_unit(identity.url, admin, "sub-b", kind="subsidiary")
    admin_a = ns.token(Role.ADMIN, "sub-a")
    assert (
        create_unit_raw(
            identity.url, admin_a, "a-hr", kind="department", parent_id="sub-a"
        ).status_code
        == 201
    )
    denied = create_unit_raw(identity.url, admin_a, "b-hr", kind="department", parent_id="sub-b")
    assert denied.status_code == 403
    steal = httpx.post(
        f"{identity.url}/v1/org-units/a-hr/move",
        json={"parent_id": "sub-b"},
        headers=bearer(admin_a),
    )
    assert steal.status_code == 403


async def test_profiles_change_with_versions_and_emit_updated(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    person = hire(
        identity.url,
        admin,
        1,
        title="Engineer",
        location="Lisbon",
        social_handles={"linkedin": "p-one", "x": "@pone"},
        employee_number="E-1",
    ).json()
    url = f"{identity.url}/v1/employees/{person['id']}"
    got = httpx.get(url, headers=bearer(admin))
    etag = got.headers["etag"]
    assert got.json()["social_handles"] == {"linkedin": "p-one", "x": "@pone"}

    changed = httpx.patch(
        url, json={"title": "Staff engineer"}, headers={**bearer(admin), "If-Match": etag}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["title"] == "Staff engineer" and changed.headers["etag"] != etag
    stale = httpx.patch(
        url, json={"location": "Porto"}, headers={**bearer(admin), "If-Match": etag}
    )
    assert stale.status_code == 412 and stale.json()["code"] == "version_mismatch"
    unknown = httpx.patch(url, json={"shoe_size": 44}, headers=bearer(admin))
    assert unknown.status_code == 422
    bad_network = httpx.patch(url, json={"social_handles": {"myspace": "x"}}, headers=bearer(admin))
    assert bad_network.status_code == 422
    employee = ns.token(Role.EMPLOYEE, "company", sub=person["id"])
    assert httpx.patch(url, json={"title": "CEO"}, headers=bearer(employee)).status_code == 403

    records = await eventually(
        lambda: read_topic(ns.infra.bootstrap, ns.topic(EMPLOYEE.name)),
        lambda r: "chorus.identity.employee.updated" in event_types(r),
        what="the updated event",
    )
    updated = [r for r in records if b"updated" in dict(r.headers)["ce_type"]]
    assert len(updated) == 1


async def test_a_scheduled_offboarding_runs_on_time_across_a_restart(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    person = hire(identity.url, admin, 1).json()
    when = datetime.now(UTC) + timedelta(seconds=4)
    scheduled = httpx.post(
        f"{identity.url}/v1/employees/{person['id']}/offboard",
        json={"reason": "fixed-term contract ends", "at": when.isoformat()},
        headers=bearer(admin),
    )
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["status"] == "active"
    assert scheduled.json()["scheduled_offboarding"]["reason"] == "fixed-term contract ends"
    identity.kill()  # the schedule is stored, not held in memory
    identity.start()

    async def current() -> dict[str, object]:
        async with httpx.AsyncClient() as client:
            got = await client.get(
                f"{identity.url}/v1/employees/{person['id']}", headers=bearer(admin)
            )
        return dict(got.json())

    left = await eventually(current, lambda e: e["status"] == "offboarded", what="offboarded")
    assert datetime.fromisoformat(str(left["offboarded_at"])) == when.replace(
        microsecond=(when.microsecond // 1000 * 1000)
    )
    records = await eventually(
        lambda: read_topic(ns.infra.bootstrap, ns.topic(EMPLOYEE.name)),
        lambda r: "chorus.identity.employee.offboarded" in event_types(r),
        what="the offboarded event",
    )
    assert event_types(records).count("chorus.identity.employee.offboarded") == 1


async def test_a_schedule_set_or_cancelled_through_another_replica_is_honoured(ns) -> None:
    """Scheduling and cancelling change no employee event, so another replica's directory
    does not hear of them: the scheduler re-reads its candidates and rescans the database."""
    fast = {"CHORUS_DUE_OFFBOARDINGS_RESCAN_SECONDS": "2"}
    one = ns.service("identity", instance="1", **fast)
    two = ns.service("identity", instance="2", **fast)
    one.start()
    two.start()
    admin = ns.token(Role.ADMIN, "company")
    leaving = hire(one.url, admin, 1).json()
    staying = hire(one.url, admin, 2).json()
    now = datetime.now(UTC)

    def schedule(url: str, person: dict[str, object], seconds: float) -> None:
        at = (now + timedelta(seconds=seconds)).isoformat()
        response = httpx.post(
            f"{url}/v1/employees/{person['id']}/offboard",
            json={"reason": "fixed-term contract ends", "at": at},
            headers=bearer(admin),
        )
        assert response.status_code == 200, response.text

    # Due first, set through replica one, cancelled through replica two.
    schedule(one.url, staying, 3)
    cancelled = httpx.delete(
        f"{two.url}/v1/employees/{staying['id']}/scheduled-offboarding", headers=bearer(admin)
    )
    assert cancelled.status_code == 200, cancelled.text
    # Due later, set through replica two, which then goes away for good.
    schedule(two.url, leaving, 5)
    two.kill()

    async def status(person: dict[str, object]) -> str:
        async with httpx.AsyncClient() as client:
            got = await client.get(f"{one.url}/v1/employees/{person['id']}", headers=bearer(admin))
        return str(got.json()["status"])

    await eventually(lambda: status(leaving), lambda s: s == "offboarded", what="offboarded")
    assert await status(staying) == "active"


async def test_privileged_actions_reach_the_audit_log(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company", sub="admin-1")
    create_unit(identity.url, admin, "sub-a", kind="subsidiary")
    create_unit(identity.url, admin, "sub-b", kind="subsidiary")
    in_a = hire(identity.url, admin, 1, unit_id="sub-a").json()
    in_b = hire(identity.url, admin, 2, unit_id="sub-b").json()
    httpx.put(
        f"{identity.url}/v1/employees/{in_a['id']}/roles",
        json={"roles": [{"role": "comms", "unit": "sub-a"}]},
        headers=bearer(admin),
    ).raise_for_status()
    auditor = ns.token(Role.AUDITOR, "company")

    def audit(token: str, **params: str) -> httpx.Response:
        return httpx.get(f"{identity.url}/v1/audit", params=params, headers=bearer(token))

    async def audited_by_admin() -> list[dict[str, object]]:
        async with httpx.AsyncClient() as client:
            got = await client.get(
                f"{identity.url}/v1/audit", params={"actor": "admin-1"}, headers=bearer(auditor)
            )
        return list(got.json()["items"])

    entries = await eventually(
        audited_by_admin,
        lambda items: len(items) >= 5,
        what="five audit entries",
    )
    assert {e["action"] for e in entries} >= {
        "org_unit.created",
        "employee.hired",
        "employee.roles_changed",
    }
    role_change = next(e for e in entries if e["action"] == "employee.roles_changed")
    assert role_change["target_id"] == in_a["id"] and role_change["details"]["roles"] == (
        "comms@sub-a"
    )
    auditor_b = ns.token(Role.AUDITOR, "sub-b")
    seen_by_b = audit(auditor_b, action="employee.hired").json()["items"]
    assert [e["target_id"] for e in seen_by_b] == [in_b["id"]]
    assert audit(ns.token(Role.COMMS, "company")).status_code == 403
    first = audit(auditor, limit="2").json()
    second = audit(auditor, limit="2", after=first["next_cursor"]).json()
    assert {e["entry_id"] for e in first["items"]}.isdisjoint(
        e["entry_id"] for e in second["items"]
    )
