"""Training and certification to post for the company, against the real service: completions
recorded by admins, `certification_changed` on Kafka as acknowledgements, scores, new
modules and role changes move it."""

from __future__ import annotations

import json

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


def create_module(url: str, token: str, *roles: str, pass_score: int = 70) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/training/modules",
        json={
            "title": "Posting basics",
            "required_for_roles": list(roles),
            "pass_score": pass_score,
        },
        headers=bearer(token),
        timeout=10,
    )


def record_score(url: str, token: str, module_id: str, employee_id: str, score: int):
    return httpx.post(
        f"{url}/v1/training/modules/{module_id}/completions",
        json={"employee_id": employee_id, "score": score},
        headers=bearer(token),
        timeout=10,
    )


def certification_changes(ns, employee_id: str):
    async def read() -> list[dict]:
        records = await read_topic(ns.infra.bootstrap, ns.topic(POLICY.name))
        return [
            {**json.loads(r.value), "sequence": int(dict(r.headers)["ce_sequence"])}
            for r in records
            if dict(r.headers)["ce_type"] == b"chorus.identity.policy.certification_changed"
            and r.key == employee_id.encode()
        ]

    return read


async def test_certification_follows_acknowledgement_scores_modules_and_roles(ns, identity):
    admin = ns.token(Role.ADMIN, "company")
    person = hire(identity.url, admin, 1, roles=[{"role": "employee", "unit": "company"}]).json()
    me = ns.token(Role.EMPLOYEE, "company", sub=person["id"])
    published = httpx.post(
        f"{identity.url}/v1/policies",
        json={"title": "Policy", "body_markdown": "Be kind"},
        headers=bearer(admin),
    )
    assert published.status_code == 201
    basics = create_module(identity.url, admin, "employee").json()

    acked = httpx.post(
        f"{identity.url}/v1/policies/current/acknowledgements",
        json={"version": 1},
        headers=bearer(me),
    )
    assert acked.status_code == 200
    mine = httpx.get(f"{identity.url}/v1/certifications/me", headers=bearer(me)).json()
    assert not mine["certified"] and mine["reasons"] == ["training_incomplete"]
    assert mine["missing_modules"] == [basics["id"]]

    # People do not record their own scores.
    own = record_score(identity.url, me, basics["id"], person["id"], 100)
    assert own.status_code == 403 and own.json()["code"] == "not_admin_of_unit"
    failed = record_score(identity.url, admin, basics["id"], person["id"], 50).json()
    assert not failed["certified"] and failed["completions"][0]["passed"] is False
    passed = record_score(identity.url, admin, basics["id"], person["id"], 80).json()
    assert passed["certified"] and passed["reasons"] == []

    # A new module for everybody uncertifies them (the service re-assesses everyone).
    advanced = create_module(identity.url, admin, "employee", pass_score=50).json()
    await eventually(
        certification_changes(ns, person["id"]),
        lambda changes: [c["certified"] for c in changes] == [True, False],
        what="certified, then not after a new module",
    )
    assert record_score(identity.url, admin, advanced["id"], person["id"], 60).json()["certified"]

    # Becoming a comms approver brings a module of its own (via identity's role_changed event).
    comms = create_module(identity.url, admin, "comms").json()
    roles = httpx.put(
        f"{identity.url}/v1/employees/{person['id']}/roles",
        json={
            "roles": [{"role": "employee", "unit": "company"}, {"role": "comms", "unit": "company"}]
        },
        headers=bearer(admin),
    )
    assert roles.status_code == 200, roles.text
    changes = await eventually(
        certification_changes(ns, person["id"]),
        lambda found: [c["certified"] for c in found] == [True, False, True, False],
        what="uncertified after becoming comms",
    )
    last = changes[-1]
    assert last["missing_modules"] == [comms["id"]] and last["reasons"] == ["training_incomplete"]
    # One aggregate, numbered in order, each change once.
    sequences = [c["sequence"] for c in changes]
    assert sequences == sorted(set(sequences))

    # Offboarding uncertifies too (the offboarded event), and records can be read by admins.
    certified = record_score(identity.url, admin, comms["id"], person["id"], 90).json()
    assert certified["certified"]
    left = httpx.post(
        f"{identity.url}/v1/employees/{person['id']}/offboard",
        json={"reason": "left"},
        headers=bearer(admin),
    )
    assert left.status_code == 200
    changes = await eventually(
        certification_changes(ns, person["id"]),
        lambda found: len(found) == 6,
        what="uncertified after leaving",
    )
    assert changes[-1]["certified"] is False and changes[-1]["reasons"] == ["not_employed"]


async def test_training_is_administered_by_the_right_people(ns, identity):
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "subsidiary-a", kind="subsidiary")
    create_unit(identity.url, admin, "subsidiary-b", kind="subsidiary")
    in_b = hire(identity.url, admin, "b1", unit_id="subsidiary-b").json()
    admin_a = ns.token(Role.ADMIN, "subsidiary-a")
    for token in (admin_a, ns.token(Role.EMPLOYEE, "company"), ns.token(Role.AUDITOR, "company")):
        refused = create_module(identity.url, token, "employee")
        assert refused.status_code == 403 and refused.json()["code"] == "not_admin_of_unit"
    module = create_module(identity.url, admin, "employee")
    assert module.status_code == 201
    module_id = module.json()["id"]
    listed = httpx.get(
        f"{identity.url}/v1/training/modules", headers=bearer(ns.token(Role.EMPLOYEE))
    )
    assert [m["id"] for m in listed.json()] == [module_id]
    # An admin of A records nothing for someone in B; an admin of B does.
    wrong = record_score(identity.url, admin_a, module_id, in_b["id"], 90)
    assert wrong.status_code == 403
    right = record_score(
        identity.url, ns.token(Role.ADMIN, "subsidiary-b"), module_id, in_b["id"], 90
    )
    assert right.status_code == 200
    # Reading someone's certification: themselves, admins and auditors over them.
    url = f"{identity.url}/v1/certifications/{in_b['id']}"
    assert httpx.get(url, headers=bearer(admin_a)).status_code == 403
    assert httpx.get(url, headers=bearer(ns.token(Role.AUDITOR, "subsidiary-b"))).status_code == 200
    themself = ns.token(Role.EMPLOYEE, "subsidiary-b", sub=in_b["id"])
    assert httpx.get(url, headers=bearer(themself)).json()["reasons"] == ["no_policy"]
    bad = create_module(identity.url, admin, "wizard")
    assert bad.status_code == 422

    async def audited():
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{identity.url}/v1/audit",
                params={"action": "training_module.created"},
                headers=bearer(admin),
            )
        return response.json()["items"]

    entries = await eventually(audited, what="the module creation in the audit log")
    assert entries[0]["target_id"] == module_id


async def test_a_run_of_employee_events_reaches_every_record_once_and_in_order(ns, identity, mongo):
    """Leavers in a burst (the consumer takes consecutive events of a type as one run): each
    record is applied up to its employee's last event, someone with two events included."""
    admin = ns.token(Role.ADMIN, "company")
    people = [
        hire(identity.url, admin, f"burst{n}", roles=[{"role": "employee", "unit": "company"}])
        .raise_for_status()
        .json()
        for n in range(8)
    ]
    twice = people[0]["id"]
    retitled = httpx.patch(
        f"{identity.url}/v1/employees/{twice}",
        json={"title": "Analyst"},
        headers=bearer(admin),
        timeout=10,
    )
    assert retitled.status_code == 200, retitled.text
    for person in people:
        left = httpx.post(
            f"{identity.url}/v1/employees/{person['id']}/offboard",
            json={"reason": "restructuring"},
            headers=bearer(admin),
            timeout=10,
        )
        assert left.status_code == 200, left.text
    expected = {
        p["id"]: int(
            httpx.get(f"{identity.url}/v1/employees/{p['id']}", headers=bearer(admin))
            .headers["ETag"]
            .removeprefix('W/"')
            .removesuffix('"')
        )
        for p in people
    }
    assert expected[twice] > expected[people[1]["id"]]  # retitled too
    records = mongo[ns.database("identity")]["certifications"]

    async def applied() -> dict[str, tuple[str, int]]:
        wanted = {"status": 1, "employee_sequence": 1}
        found = await records.find({"_id": {"$in": list(expected)}}, wanted).to_list()
        return {d["_id"]: (d["status"], d["employee_sequence"]) for d in found}

    await eventually(
        applied,
        lambda found: found == {i: ("offboarded", v) for i, v in expected.items()},
        what="every record at its employee's last event",
    )
