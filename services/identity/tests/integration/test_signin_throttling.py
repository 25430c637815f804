"""Failed sign-ins are limited per account and per client address, shared through the database;
X-Forwarded-For counts only behind a trusted proxy; each burst is audited once."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from chorus_kit.events.catalogue import IDENTITY_AUDIT
from chorus_kit.events.identity import Role
from services.identity.tests.support.sessions import (
    PASSWORD,
    WEAK_HASHING,
    refresh,
    set_password,
    sign_in,
)
from tests.support.api import bearer, hire
from tests.support.kafka import read_topic
from tests.support.polling import eventually

LIMITS = {
    **WEAK_HASHING,
    "CHORUS_SIGNIN_ACCOUNT_FAILURES": "3",
    "CHORUS_SIGNIN_ADDRESS_FAILURES": "5",
    "CHORUS_SIGNIN_WINDOW_MINUTES": "15",
}


def _throttled(response: httpx.Response) -> bool:
    if response.status_code != 429:
        return False
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "too_many_attempts"
    assert 0 < int(response.headers["retry-after"]) <= 15 * 60
    return True


async def _throttle_entries(ns, identity, **match) -> list[dict]:
    """`signin.throttled` entries, once the API shows at least one; exactly as on Kafka."""
    admin = ns.token(Role.ADMIN, "company")

    async def shown():
        return httpx.get(
            f"{identity.url}/v1/audit",
            params={"action": "signin.throttled"},
            headers=bearer(admin),
        ).json()["items"]

    await eventually(shown, what="signin.throttled in the audit log")
    records = await read_topic(ns.infra.bootstrap, ns.topic(IDENTITY_AUDIT.name))
    entries = [json.loads(r.value) for r in records]
    return [
        e
        for e in entries
        if e["action"] == "signin.throttled" and all(e.get(k) == v for k, v in match.items())
    ]


async def test_an_account_is_locked_after_its_failures_and_the_burst_is_audited_once(ns) -> None:
    identity = ns.service("identity", **LIMITS)
    identity.start()
    admin = ns.token(Role.ADMIN, "company")
    employee = hire(identity.url, admin, 1).json()
    assert set_password(identity.url, admin, employee["id"]).status_code == 204

    for _ in range(3):
        wrong = sign_in(identity.url, "person1@example.com", "a wrong password here")
        assert wrong.status_code == 401
    # now even the right password waits: the account is throttled, not the person's secret
    for _ in range(4):
        assert _throttled(sign_in(identity.url, "person1@example.com", PASSWORD))
    # another account from the same address is not affected (3 failures < 5 per address)
    other = hire(identity.url, admin, 2).json()
    set_password(identity.url, admin, other["id"])
    assert sign_in(identity.url, "person2@example.com").status_code == 200

    entries = await _throttle_entries(ns, identity, target_id=employee["id"])
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["details"]["scope"] == "account" and entry["outcome"] == "denied"
    assert entry["unit_id"] == "company" and entry["client_address"] == "127.0.0.1"
    assert PASSWORD not in json.dumps(entries)


async def test_concurrent_guesses_cannot_exceed_the_limit(ns) -> None:
    identity = ns.service("identity", **LIMITS)
    identity.start()
    admin = ns.token(Role.ADMIN, "company")
    employee = hire(identity.url, admin, 3).json()
    set_password(identity.url, admin, employee["id"])
    async with httpx.AsyncClient(timeout=20) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{identity.url}/v1/sessions",
                    json={"email": "person3@example.com", "password": f"guess number {i}"},
                )
                for i in range(12)
            )
        )
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 3, statuses  # at most `limit` guesses were checked


async def test_behind_no_trusted_proxy_forwarded_for_is_ignored(ns) -> None:
    identity = ns.service("identity", **LIMITS)  # no CHORUS_TRUSTED_PROXIES
    identity.start()
    for i in range(5):  # five unknown accounts, each "from" another forwarded address
        answer = sign_in(
            identity.url,
            f"nobody{i}@example.com",
            "whatever it is",
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        )
        assert answer.status_code == 401
    fresh = {"X-Forwarded-For": "198.51.100.77"}
    assert _throttled(sign_in(identity.url, "someone@example.com", "x" * 12, headers=fresh))
    # refresh and sign-out failures count against the same address, and are refused too
    assert _throttled(refresh(identity.url, "a-refresh-token-we-never-issued"))

    entries = await _throttle_entries(ns, identity, target_id="127.0.0.1")
    assert len(entries) == 1
    assert entries[0]["details"]["scope"] == "address"
    assert entries[0]["client_address"] == "127.0.0.1"


async def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(ns) -> None:
    identity = ns.service("identity", CHORUS_TRUSTED_PROXIES="127.0.0.1/32", **LIMITS)
    identity.start()
    attacker = {"X-Forwarded-For": "203.0.113.10"}
    for i in range(5):
        answer = sign_in(identity.url, f"nobody{i}@example.com", "guessing away", headers=attacker)
        assert answer.status_code == 401
    assert _throttled(sign_in(identity.url, "nobody9@example.com", "x" * 12, headers=attacker))
    # writing a fake address to the left does not escape: the proxy's own entry is right-most
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.10"}
    assert _throttled(sign_in(identity.url, "nobody9@example.com", "x" * 12, headers=spoofed))
    # another client behind the same proxy is not throttled
    neighbour = {"X-Forwarded-For": "203.0.113.11"}
    answer = sign_in(identity.url, "nobody9@example.com", "x" * 12, headers=neighbour)
    assert answer.status_code == 401

    entries = await _throttle_entries(ns, identity, target_id="203.0.113.10")
    assert len(entries) == 1
    assert entries[0]["client_address"] == "203.0.113.10"
    assert not await _throttle_entries(ns, identity, target_id="127.0.0.1")


def test_a_malformed_trusted_proxy_list_stops_the_service(ns) -> None:
    identity = ns.service("identity", CHORUS_TRUSTED_PROXIES="not-a-cidr", **LIMITS)
    with pytest.raises(Exception, match="exited at start"):
        identity.start(wait=30)
