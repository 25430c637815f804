"""The social media policy against the real service, database and Kafka: publish,
acknowledge, who has not, and who may ask."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

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


def publish(url: str, token: str, **fields) -> httpx.Response:
    body = {"title": "Social media policy", "body_markdown": "# Be kind", **fields}
    return httpx.post(f"{url}/v1/policies", json=body, headers=bearer(token), timeout=10)


def acknowledge(url: str, token: str, version: int) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/policies/current/acknowledgements",
        json={"version": version},
        headers=bearer(token),
        timeout=10,
    )


def policy_events(ns):
    async def read():
        records = await read_topic(ns.infra.bootstrap, ns.topic(POLICY.name))
        return [
            (dict(r.headers)["ce_type"].decode(), r.key.decode(), json.loads(r.value))
            for r in records
        ]

    return read


async def test_publish_then_acknowledge_reach_kafka_with_what_content_needs(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    employee = hire(identity.url, admin, 1).json()
    me = ns.token(Role.EMPLOYEE, "company", sub=employee["id"])

    published = publish(identity.url, admin)
    assert published.status_code == 201, published.text
    version = published.json()
    effective = datetime.fromisoformat(version["effective_at"])
    assert version["version"] == 1 and version["grace_period_days"] == 14
    assert datetime.fromisoformat(version["acknowledge_by"]) == effective + timedelta(days=14)
    current = httpx.get(f"{identity.url}/v1/policies/current", headers=bearer(me)).json()
    assert current["version"] == 1 and current["body_markdown"] == "# Be kind"

    status = httpx.get(
        f"{identity.url}/v1/policies/current/acknowledgements/me", headers=bearer(me)
    ).json()
    assert status["state"] == "pending" and status["acknowledge_by"] == version["acknowledge_by"]

    stale = acknowledge(identity.url, me, 2)
    assert stale.status_code == 409 and stale.json()["code"] == "not_current_version"
    done = acknowledge(identity.url, me, 1)
    assert done.status_code == 200 and done.json()["state"] == "acknowledged"
    again = acknowledge(identity.url, me, 1)  # repeating it changes nothing
    assert again.json()["acknowledged_at"] == done.json()["acknowledged_at"]

    events = await eventually(
        policy_events(ns),
        lambda found: (
            {t for t, _, _ in found}
            >= {"chorus.identity.policy.published", "chorus.identity.policy.acknowledged"}
        ),
        what="published and acknowledged on Kafka",
    )
    [(_, key, data)] = [e for e in events if e[0] == "chorus.identity.policy.published"]
    assert key == "social-media"
    assert data["version"] == 1 and data["acknowledge_by"] == version["acknowledge_by"]
    acks = [e for e in events if e[0] == "chorus.identity.policy.acknowledged"]
    assert len(acks) == 1
    assert acks[0][1] == employee["id"]
    assert acks[0][2]["employee_id"] == employee["id"] and acks[0][2]["version"] == 1

    # A new version asks again; the old one stays readable.
    second = publish(identity.url, admin, title="Policy, revised", grace_period_days=7).json()
    assert second["version"] == 2
    status = httpx.get(
        f"{identity.url}/v1/policies/current/acknowledgements/me", headers=bearer(me)
    ).json()
    assert status["state"] == "pending" and status["version"] == 2
    first = httpx.get(f"{identity.url}/v1/policies/versions/1", headers=bearer(me)).json()
    assert first["title"] == "Social media policy"
    missing = httpx.get(f"{identity.url}/v1/policies/versions/9", headers=bearer(me))
    assert missing.status_code == 404
    events = await eventually(
        policy_events(ns),
        lambda found: sum(t == "chorus.identity.policy.published" for t, _, _ in found) == 2,
        what="the second version on Kafka",
    )
    republished = [d for t, _, d in events if t == "chorus.identity.policy.published"][-1]
    assert republished["previous_version"] == 1
    assert republished["acknowledge_by"] == second["acknowledge_by"]

    # The privileged act is in the audit log.
    entries = await eventually(
        lambda: _audit(identity.url, admin, "policy.published"),
        lambda found: len(found) == 2,
        what="the publishes in the audit log",
    )
    assert sorted(e["details"]["version"] for e in entries) == [1, 2]


async def _audit(url: str, token: str, action: str) -> list[dict]:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{url}/v1/audit", params={"action": action}, headers=bearer(token)
        )
    return response.json()["items"]


def test_only_admins_over_the_company_publish(ns, identity) -> None:
    create_unit(identity.url, ns.token(), "subsidiary-a", kind="subsidiary")
    for token in (
        ns.token(Role.ADMIN, "subsidiary-a"),
        ns.token(Role.EMPLOYEE, "company"),
        ns.token(Role.AUDITOR, "company"),
    ):
        refused = publish(identity.url, token)
        assert refused.status_code == 403 and refused.json()["code"] == "not_admin_of_unit"
    assert httpx.post(f"{identity.url}/v1/policies", json={}).status_code == 401
    nothing = httpx.get(f"{identity.url}/v1/policies/current", headers=bearer(ns.token()))
    assert nothing.status_code == 404 and nothing.json()["code"] == "no_policy"


async def test_who_has_not_acknowledged_is_seen_per_unit_subtree(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "subsidiary-a", kind="subsidiary")
    create_unit(identity.url, admin, "subsidiary-b", kind="subsidiary")
    create_unit(identity.url, admin, "a-sales", parent_id="subsidiary-a")
    in_a = hire(identity.url, admin, "a1", unit_id="a-sales").json()
    in_b = hire(identity.url, admin, "b1", unit_id="subsidiary-b").json()
    acked = hire(identity.url, admin, "a2", unit_id="subsidiary-a").json()
    # No grace: the deadline is now, so whoever has not acknowledged is overdue at once.
    assert publish(identity.url, admin, grace_period_days=0).status_code == 201
    acked_token = ns.token(Role.EMPLOYEE, "subsidiary-a", sub=acked["id"])
    assert acknowledge(identity.url, acked_token, 1).status_code == 200
    overdue = httpx.get(
        f"{identity.url}/v1/policies/current/acknowledgements/me",
        headers=bearer(ns.token(Role.EMPLOYEE, "a-sales", sub=in_a["id"])),
    )
    assert overdue.json()["state"] == "overdue"

    def pending_in(unit: str, token: str):
        async def read():
            async with httpx.AsyncClient() as client:
                return await client.get(
                    f"{identity.url}/v1/policies/current/unacknowledged",
                    params={"unit_id": unit},
                    headers=bearer(token),
                )

        return read

    admin_a = ns.token(Role.ADMIN, "subsidiary-a")
    page = await eventually(
        pending_in("subsidiary-a", admin_a),
        lambda r: r.status_code == 200 and r.json()["items"],
        what="subsidiary A's unacknowledged list",
    )
    assert [i["employee_id"] for i in page.json()["items"]] == [in_a["id"]]
    assert page.json()["items"][0]["state"] == "overdue"

    auditor = ns.token(Role.AUDITOR, "company")
    everyone = await eventually(
        pending_in("company", auditor),
        lambda r: r.status_code == 200 and len(r.json()["items"]) == 2,
        what="the company's unacknowledged list",
    )
    assert {i["employee_id"] for i in everyone.json()["items"]} == {in_a["id"], in_b["id"]}
    first_page = httpx.get(
        f"{identity.url}/v1/policies/current/unacknowledged",
        params={"unit_id": "company", "limit": 1},
        headers=bearer(auditor),
    ).json()
    assert len(first_page["items"]) == 1 and first_page["next_cursor"]
    second_page = httpx.get(
        f"{identity.url}/v1/policies/current/unacknowledged",
        params={"unit_id": "company", "limit": 1, "after": first_page["next_cursor"]},
        headers=bearer(auditor),
    ).json()
    assert second_page["next_cursor"] is None
    paged = [first_page["items"][0]["employee_id"], second_page["items"][0]["employee_id"]]
    assert sorted(paged) == sorted([in_a["id"], in_b["id"]])

    for unit, token in (
        ("subsidiary-b", admin_a),
        ("company", admin_a),
        ("subsidiary-a", ns.token(Role.EMPLOYEE, "subsidiary-a")),
        ("subsidiary-a", ns.token(Role.COMMS, "subsidiary-a")),
    ):
        refused = await pending_in(unit, token)()
        assert refused.status_code == 403, (unit, refused.text)
        assert refused.json()["code"] == "not_admin_or_auditor_of_unit"


def test_only_employees_acknowledge(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    assert publish(identity.url, admin).status_code == 201
    stranger = acknowledge(identity.url, ns.token(Role.EMPLOYEE, "company", sub="nobody"), 1)
    assert stranger.status_code == 403 and stranger.json()["code"] == "not_an_employee"
