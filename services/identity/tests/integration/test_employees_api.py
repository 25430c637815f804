"""Identity's employee API against a real database and Kafka, as a real process."""

from __future__ import annotations

import httpx
import pytest

from chorus_kit.events.catalogue import EMPLOYEE
from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire, offboard
from tests.support.kafka import read_topic
from tests.support.polling import eventually


@pytest.fixture
def identity(ns):
    service = ns.service("identity")
    service.start()
    return service


async def test_hire_and_offboard_emit_events_through_the_outbox(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "dept-eng")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = httpx.post(
        f"{identity.url}/v1/employees",
        json={
            "email": "Ada@Example.com",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "unit_id": "dept-eng",
        },
        headers={**bearer(admin), "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    assert response.status_code == 201, response.text
    employee = response.json()
    assert employee["status"] == "active" and employee["email"] == "ada@example.com"
    assert offboard(identity.url, admin, employee["id"]).json()["status"] == "offboarded"

    records = await eventually(
        lambda: read_topic(ns.infra.bootstrap, ns.topic(EMPLOYEE.name)),
        lambda r: len(r) >= 2,
        what="hired and offboarded on Kafka",
    )
    headers = [dict(r.headers) for r in records]
    assert [h["ce_type"] for h in headers] == [
        b"chorus.identity.employee.hired",
        b"chorus.identity.employee.offboarded",
    ]
    # Numbers 2 and 4 went to the audit topic: an entry rides with each change.
    assert [h["ce_sequence"] for h in headers] == [b"1", b"3"]
    assert all(r.key == employee["id"].encode() for r in records)
    # One trace from the HTTP request to the event a consumer will read.
    assert headers[0]["ce_traceparent"].decode().split("-")[1] == trace_id


def test_reads_are_authorised_in_the_service(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    employee = hire(identity.url, admin, 1).json()
    url = f"{identity.url}/v1/employees/{employee['id']}"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=bearer("not-a-jwt")).json()["code"] == "invalid_token"
    themself = ns.token(Role.EMPLOYEE, "company", sub=employee["id"])
    assert httpx.get(url, headers=bearer(themself)).status_code == 200
    colleague = ns.token(Role.EMPLOYEE, "company", sub="someone-else")
    assert httpx.get(url, headers=bearer(colleague)).status_code == 403
    auditor = ns.token(Role.AUDITOR, "company")
    assert httpx.get(url, headers=bearer(auditor)).status_code == 200


def test_roles_cover_their_unit_and_its_subtree_only(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "subsidiary-a", kind="subsidiary")
    create_unit(identity.url, admin, "subsidiary-b", kind="subsidiary")
    create_unit(identity.url, admin, "a-sales", parent_id="subsidiary-a")
    other_admin = ns.token(Role.ADMIN, "subsidiary-b")
    response = hire(identity.url, other_admin, 2, unit_id="a-sales")
    assert response.status_code == 403
    assert response.json()["code"] == "not_admin_of_unit"
    # An admin of subsidiary A covers A's departments too.
    employee = hire(identity.url, ns.token(Role.ADMIN, "subsidiary-a"), 3, unit_id="a-sales").json()
    assert employee["unit_path"] == ["a-sales", "subsidiary-a", "company"]
    assert offboard(identity.url, other_admin, employee["id"]).status_code == 403
    assert (
        offboard(identity.url, ns.token(Role.EMPLOYEE, "company"), employee["id"]).status_code
        == 403
    )


def test_lifecycle_conflicts_answer_409_with_a_code(ns, identity) -> None:
    admin = ns.token()
    employee = hire(identity.url, admin, 4).json()
    duplicate = hire(identity.url, admin, 4)
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "email_taken"
    assert offboard(identity.url, admin, employee["id"]).status_code == 200
    again = offboard(identity.url, admin, employee["id"])
    assert again.status_code == 409 and again.json()["code"] == "already_offboarded"
    # The email is free again once its holder has left.
    assert hire(identity.url, admin, 4).status_code == 201
    missing = offboard(identity.url, admin, "no-such-person")
    assert missing.status_code == 404 and missing.json()["code"] == "employee_not_found"


def test_bad_input_is_refused_without_echoing_it(ns, identity) -> None:
    admin = ns.token()
    response = httpx.post(
        f"{identity.url}/v1/employees",
        json={
            "email": "not-an-email",
            "given_name": "",
            "family_name": "x",
            "unit_id": "u",
            "password": "correct-horse-battery",
        },
        headers=bearer(admin),
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "validation_failed"
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "email"), ("body", "password")}
    assert "correct-horse-battery" not in response.text and "not-an-email" not in response.text
    not_json = httpx.post(
        f"{identity.url}/v1/employees",
        content=b"{",
        headers={**bearer(admin), "content-type": "application/json"},
    )
    assert not_json.status_code == 422


def test_health_readiness_metrics_and_jwks(ns, identity) -> None:
    assert httpx.get(f"{identity.url}/healthz").json() == {"status": "alive"}
    assert httpx.get(f"{identity.url}/readyz").status_code == 200
    hire(identity.url, ns.token(), 5)
    metrics = httpx.get(f"{identity.url}/metrics").text
    assert "chorus_outbox_backlog_documents" in metrics
    assert "chorus_outbox_published_events_total" in metrics
    keys = httpx.get(f"{identity.url}/.well-known/jwks.json").json()["keys"]
    assert keys[0]["kid"] == ns.signing_key().kid and "d" not in keys[0]
