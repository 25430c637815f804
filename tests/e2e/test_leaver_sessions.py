"""Someone leaves: their tokens stop working in every service, through Kafka."""

from __future__ import annotations

import httpx

from chorus_kit.events.catalogue import SESSION
from chorus_kit.events.identity import Role
from tests.support.api import bearer, hire, offboard
from tests.support.kafka import end_offset_total
from tests.support.polling import eventually


async def test_an_offboarded_persons_token_is_refused_everywhere(ns) -> None:
    identity = ns.service("identity")
    identity.start()
    access = ns.service("access")
    access.start()
    admin = ns.token(Role.ADMIN, "company")
    leaver = hire(identity.url, admin, 1).json()
    # The leaver happens to be an auditor: their own token reads in both services.
    token = ns.token(Role.AUDITOR, "company", sub=leaver["id"])
    own_record = f"{identity.url}/v1/employees/{leaver['id']}"
    access_record = f"{access.url}/v1/employment/{leaver['id']}"
    assert httpx.get(own_record, headers=bearer(token)).status_code == 200
    await eventually(
        lambda: _status(access_record, token), lambda s: s == 200, what="access knows them"
    )

    assert offboard(identity.url, admin, leaver["id"]).status_code == 200

    for url in (own_record, access_record):
        refused = await eventually(
            lambda url=url: _get(url, token),
            lambda r: r.status_code == 401,
            what=f"token refused at {url}",
        )
        assert refused.json()["code"] == "session_revoked"
    # Everyone else's tokens still work.
    assert httpx.get(access_record, headers=bearer(admin)).status_code == 200


async def _get(url: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url, headers=bearer(token))


async def _status(url: str, token: str) -> int:
    return (await _get(url, token)).status_code


async def test_a_new_replica_is_ready_only_after_reading_past_revocations(ns) -> None:
    identity = ns.service("identity")
    identity.start()
    admin = ns.token()
    leaver = hire(identity.url, admin, 2).json()
    token = ns.token(Role.AUDITOR, "company", sub=leaver["id"])
    assert offboard(identity.url, admin, leaver["id"]).status_code == 200
    await eventually(
        lambda: end_offset_total(ns.infra.bootstrap, ns.topic(SESSION.name)),
        lambda n: n >= 1,
        what="the revocation on Kafka",
    )

    # Started after the revocation: once ready, it refuses the token at the first request.
    late_access = ns.service("access")
    late_access.start()
    response = httpx.get(f"{late_access.url}/v1/employment/{leaver['id']}", headers=bearer(token))
    assert response.status_code == 401 and response.json()["code"] == "session_revoked"
