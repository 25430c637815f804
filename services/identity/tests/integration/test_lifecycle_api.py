"""The joiner/mover/leaver lifecycle over HTTP, reaching access through Kafka."""

from __future__ import annotations

import httpx

from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire, offboard
from tests.support.polling import eventually


def post(url: str, token: str, body: dict[str, object] | None = None) -> httpx.Response:
    return httpx.post(url, json=body or {}, headers=bearer(token), timeout=10)


async def test_suspend_move_change_roles_leave_and_come_back(ns, mongo) -> None:
    identity = ns.service("identity")
    identity.start()
    access = ns.service("access")
    access.start()
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "dept-a")
    create_unit(identity.url, admin, "dept-b")
    person = hire(identity.url, admin, 1, unit_id="dept-a").json()
    base = f"{identity.url}/v1/employees/{person['id']}"

    assert post(f"{base}/suspend", admin, {"reason": "leave"}).json()["status"] == "suspended"
    again = post(f"{base}/suspend", admin, {"reason": "leave"})
    assert again.status_code == 409 and again.json()["code"] == "not_active"
    assert post(f"{base}/reinstate", admin).json()["status"] == "active"
    moved = post(f"{base}/move", admin, {"unit_id": "dept-b"})
    assert moved.status_code == 200 and moved.json()["unit_id"] == "dept-b"
    roles = httpx.put(
        f"{base}/roles",
        json={"roles": [{"role": "comms", "unit": "dept-b"}]},
        headers=bearer(admin),
    )
    assert roles.status_code == 200 and roles.json()["roles"] == [
        {"role": "comms", "unit": "dept-b"}
    ]
    assert offboard(identity.url, admin, person["id"]).status_code == 200
    # The email is free once they left: someone else takes it; the rehire then conflicts.
    assert hire(identity.url, admin, 1).status_code == 201
    taken = post(f"{base}/rehire", admin, {"unit_id": "dept-a"})
    assert taken.status_code == 409 and taken.json()["code"] == "email_taken"

    view = mongo[ns.database("access")]["employment"]
    record = await eventually(
        lambda: view.find_one({"_id": person["id"]}),
        lambda d: d is not None and d["status"] == "offboarded",
        what="the whole lifecycle in access's view",
    )
    assert [h["type"].rsplit(".", 1)[1] for h in record["history"]] == [
        "hired",
        "suspended",
        "reinstated",
        "moved",
        "role_changed",
        "offboarded",
    ]
    assert record["unit_id"] == "dept-b"


def test_moves_and_role_grants_need_authority_over_both_ends(ns) -> None:
    identity = ns.service("identity")
    identity.start()
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "dept-a")
    create_unit(identity.url, admin, "dept-b")
    admin_a = ns.token(Role.ADMIN, "dept-a")
    person = hire(identity.url, admin_a, 2, unit_id="dept-a").json()
    base = f"{identity.url}/v1/employees/{person['id']}"
    assert post(f"{base}/move", admin_a, {"unit_id": "dept-b"}).status_code == 403
    elevate = httpx.put(
        f"{base}/roles",
        json={"roles": [{"role": "admin", "unit": "company"}]},
        headers=bearer(admin_a),
    )
    assert elevate.status_code == 403
    scoped = httpx.put(
        f"{base}/roles",
        json={"roles": [{"role": "comms", "unit": "dept-a"}]},
        headers=bearer(admin_a),
    )
    assert scoped.status_code == 200
    bad = httpx.put(
        f"{base}/roles",
        json={"roles": [{"role": "overlord", "unit": "dept-a"}]},
        headers=bearer(admin_a),
    )
    assert bad.status_code == 422
