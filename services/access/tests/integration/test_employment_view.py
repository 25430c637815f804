"""Access keeps its own view of who is employed, fed by identity's events over Kafka."""

from __future__ import annotations

import httpx

from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire, offboard
from tests.support.polling import eventually


async def test_hires_and_leavers_reach_access_through_kafka(ns, mongo) -> None:
    identity = ns.service("identity")
    identity.start()
    access = ns.service("access")
    access.start()
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "dept-sales")
    staying = hire(identity.url, admin, 1, unit_id="dept-sales").json()
    leaving = hire(identity.url, admin, 2).json()
    assert offboard(identity.url, admin, leaving["id"]).status_code == 200

    view = mongo[ns.database("access")]["employment"]
    left = await eventually(
        lambda: view.find_one({"_id": leaving["id"]}),
        lambda d: d is not None and d["status"] == "offboarded",
        what="leaver in access's view",
    )
    assert [h["type"] for h in left["history"]] == [
        "chorus.identity.employee.hired",
        "chorus.identity.employee.offboarded",
    ]
    assert left["employed_until"] is not None
    stayed = await eventually(lambda: view.find_one({"_id": staying["id"]}))
    assert stayed["status"] == "active" and stayed["unit_id"] == "dept-sales"
    assert stayed["unit_path"] == ["dept-sales", "company"] and stayed["roles"] == []
    assert stayed["email"] == "person1@example.com" and stayed["family_name"] == "Number 1"

    # Access verifies identity's tokens itself, against identity's JWKS.
    url = f"{access.url}/v1/employment/{leaving['id']}"
    answer = httpx.get(url, headers=bearer(admin))
    assert answer.status_code == 200 and answer.json()["status"] == "offboarded"
    assert httpx.get(url, headers=bearer(ns.token(Role.EMPLOYEE, "company"))).status_code == 403
    assert httpx.get(url, headers=bearer(ns.token(Role.ADMIN, "elsewhere"))).status_code == 403
    assert httpx.get(url).status_code == 401
    assert httpx.get(f"{access.url}/v1/employment/nobody", headers=bearer(admin)).status_code == 404
