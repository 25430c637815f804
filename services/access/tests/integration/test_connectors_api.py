"""Revocation connectors through access's real process, Kafka and database, against a fake
network admin API on loopback (`tests/support/fake_network.py`), which checks each call's
HMAC itself.

Grants are made and revoked through the core's API; access's own `grant.revoked` events
make the calls, whoever revoked.
"""

from __future__ import annotations

import base64
import os

import httpx

from chorus_kit.events.catalogue import GRANT, PLATFORM_ALERT
from chorus_kit.events.identity import Role
from services.access.tests.support.fake_network import FakeNetwork
from services.access.tests.support.world import AccessWorld, events_of
from tests.support.api import bearer, offboard
from tests.support.kafka import committed_offsets, end_offset_total, produce_raw, read_topic
from tests.support.polling import eventually

FAST_RETRIES = {
    "CHORUS_ACCESS_VAULT_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
    "CHORUS_CONNECTOR_FIRST_RETRY_SECONDS": "0.2",
    "CHORUS_CONNECTOR_MAX_RETRY_SECONDS": "0.6",
    "CHORUS_CONNECTOR_TICK_SECONDS": "0.2",
    "CHORUS_CONNECTOR_TIMEOUT_SECONDS": "2",
    "CHORUS_CONNECTOR_LEASE_SECONDS": "4",
}


def start(ns, **env: str):
    identity = ns.service("identity")
    identity.start()
    access = ns.service("access", **FAST_RETRIES, **env)
    access.start()
    return identity, access


async def calls(world: AccessWorld, headers: dict[str, str], **params: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(world.url("/v1/connector-calls"), params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def call_of(world: AccessWorld, grant_id: str) -> dict | None:
    found = await calls(world, world.admin)
    return next((c for c in found if c["grant_id"] == grant_id), None)


async def test_a_revoked_grant_reaches_the_network_once_signed_even_across_an_outage(
    ns, mongo
) -> None:
    fake = FakeNetwork()
    fake.start()
    try:
        identity, access = start(ns, CHORUS_CONNECTOR_MAX_ATTEMPTS="200")
        world = AccessWorld(ns, identity, access.url)
        await world.hire("owner", "owner2", "publisher", "viewer")
        account = world.register_account(f"brand-{ns.id}", ["owner", "owner2"])
        publisher_grant = world.grant(account, "publisher", "publisher", approver="owner")
        viewer_grant = world.grant(account, "viewer", "viewer", approver="owner")

        # Set up by an owner (a publisher may not); the secret is shown once.
        connector = world.url(f"/v1/accounts/{account}/connector")
        refused = httpx.put(connector, json={"url": fake.url}, headers=world.token("publisher"))
        assert refused.status_code == 403
        made = httpx.put(connector, json={"url": fake.url}, headers=world.token("owner"))
        assert made.status_code == 201, made.text
        secret = made.json()["signing_secret"]
        assert secret.startswith("chc_") and made.headers["cache-control"] == "no-store"
        fake.secret = secret
        again = httpx.put(connector, json={"url": fake.url}, headers=world.token("owner"))
        assert again.status_code == 200 and again.json()["signing_secret"] is None
        shown = httpx.get(connector, headers=world.token("owner2")).json()
        assert shown["url"] == fake.url and shown["signing_secret"] is None
        database = mongo[ns.database("access")]
        stored = [
            *await database["connector_secrets"].find().to_list(),
            *await database["accounts"].find({"_id": account}).to_list(),
        ]
        assert secret not in repr(stored)  # sealed at rest, never in clear

        # A revoke → exactly one call, signed, saying what to do.
        revoked = httpx.post(
            world.url(f"/v1/grants/{publisher_grant}/revoke"),
            json={"reason": "campaign over"},
            headers=world.token("owner"),
        )
        assert revoked.status_code == 200, revoked.text
        [received] = await eventually(
            lambda: _now(fake.acknowledged()), lambda r: len(r) == 1, what="the network's call"
        )
        assert received.signature_valid and received.fresh
        assert received.body == {
            "call_id": received.call_id,
            "account_id": account,
            "network": "linkedin",
            "handle": f"brand-{ns.id}",
            "action": "revoke_access",
            "person_id": world.people["publisher"],
            "grant_id": publisher_grant,
            "secret_id": None,
            "role": "publisher",
            "secret_kind": None,
            "reason": "campaign over",
            "requested_at": received.body["requested_at"],
        }
        done = await eventually(
            lambda: call_of(world, publisher_grant),
            lambda c: c is not None and c["status"] == "acknowledged",
            what="the call acknowledged",
        )
        assert done["attempts"] == 1 and done["call_id"] == received.call_id

        # The same event delivered again (as after a crash) makes no second call.
        grant_topic = ns.topic(GRANT.name)
        [record] = [
            r
            for r in await read_topic(ns.infra.bootstrap, grant_topic)
            if dict(r.headers)["ce_type"] == b"chorus.access.grant.revoked"
            and publisher_grant.encode() in r.value
        ]
        await produce_raw(
            ns.infra.bootstrap, grant_topic, [(record.key, record.value, list(record.headers))]
        )
        end = await end_offset_total(ns.infra.bootstrap, grant_topic)
        await eventually(
            lambda: _consumed(ns, grant_topic),
            lambda consumed: consumed >= end,
            what="the connectors' consumer past the redelivered event",
        )
        assert await database["connector_calls"].count_documents({"grant_id": publisher_grant}) == 1
        assert len(fake.calls()) == 1

        # The network down for a while: first answering 503, then not answering at all.
        fake.answer = 503
        revoked = httpx.post(
            world.url(f"/v1/grants/{viewer_grant}/revoke"),
            json={"reason": "left the team"},
            headers=world.token("owner2"),
        )
        assert revoked.status_code == 200, revoked.text
        busy = await eventually(
            lambda: call_of(world, viewer_grant),
            lambda c: c is not None and c["attempts"] >= 2,
            what="attempts answered 503",
        )
        assert busy["status"] == "pending" and busy["last_error"] == "HTTP 503"
        fake.stop()
        down = await eventually(
            lambda: call_of(world, viewer_grant),
            lambda c: c["attempts"] >= busy["attempts"] + 2 and c["last_error"] == "connect error",
            what="attempts refused while the network is down",
        )
        assert down["status"] == "pending"
        fake.answer = 204
        fake.start()
        back = await eventually(
            lambda: call_of(world, viewer_grant),
            lambda c: c["status"] == "acknowledged",
            what="the call delivered once the network is back",
        )
        attempts = fake.calls(back["call_id"])
        assert len(fake.acknowledged(back["call_id"])) == 1
        assert len(attempts) >= 2 and all(a.signature_valid for a in attempts)
        assert len({a.raw_body for a in attempts}) == 1  # the same body on every attempt
        assert back["attempts"] >= down["attempts"] + 1
    finally:
        fake.stop()


async def test_a_failed_call_alerts_is_listed_in_scope_and_an_owner_retries_it(ns, mongo) -> None:
    fake = FakeNetwork(answer=503)
    fake.start()
    try:
        identity, access = start(ns, CHORUS_CONNECTOR_MAX_ATTEMPTS="3")
        world = AccessWorld(ns, identity, access.url)
        await world.hire("owner", "owner2", "publisher")
        account = world.register_account(f"jobs-{ns.id}", ["owner", "owner2"])
        grant = world.grant(account, "publisher", "publisher", approver="owner2")
        made = httpx.put(
            world.url(f"/v1/accounts/{account}/connector"),
            json={"url": fake.url},
            headers=world.admin,  # an admin over the account's unit may set it up too
        )
        assert made.status_code == 201, made.text
        fake.secret = made.json()["signing_secret"]

        # The publisher leaves: revoked in Chorus, then offboarded in identity.
        revoked = httpx.post(
            world.url(f"/v1/grants/{grant}/revoke"),
            json={"reason": "leaving"},
            headers=world.token("owner"),
        )
        assert revoked.status_code == 200, revoked.text
        left = offboard(world.identity.url, ns.token(Role.ADMIN), world.people["publisher"])
        assert left.status_code == 200, left.text
        failed = await eventually(
            lambda: call_of(world, grant),
            lambda c: c is not None and c["status"] == "failed",
            timeout=60,
            what="the call failed after its attempts",
        )
        assert failed["attempts"] == 3 and failed["last_error"] == "HTTP 503"
        assert failed["person_id"] == world.people["publisher"]
        alerts = await eventually(
            lambda: events_of(
                ns, PLATFORM_ALERT.name, "chorus.platform.alert.connector_call_failed"
            ),
            what="the failure alert",
        )
        assert [a[1]["call_id"] for a in alerts] == [failed["call_id"]]

        # Unacknowledged on the network: the leaver still counts as former staff with access.
        report = await eventually(
            lambda: _former_staff(world),
            lambda r: r.get("unacknowledged_connector_calls") == 1,
            what="the former-staff report counting the unacknowledged call",
        )
        assert [p["person_id"] for p in report["people"]] == [world.people["publisher"]]

        # Who sees it: auditors and admins over the unit, the account's owners; not staff.
        auditor = bearer(ns.token(Role.AUDITOR, "company", sub="auditor-1"))
        assert [c["call_id"] for c in await calls(world, auditor, status="failed")] == [
            failed["call_id"]
        ]
        assert [c["call_id"] for c in await calls(world, world.token("owner2"))] == [
            failed["call_id"]
        ]
        elsewhere = bearer(ns.token(Role.AUDITOR, "other-unit", sub="auditor-2"))
        assert await calls(world, elsewhere) == []
        # (Not the publisher's token: their offboarding revoked it, so that is a 401.)
        staff_token = bearer(ns.token(Role.EMPLOYEE, "company", sub="staff-1"))
        staff = httpx.get(world.url("/v1/connector-calls"), headers=staff_token)
        assert staff.status_code == 403
        detail = httpx.get(
            world.url(f"/v1/connector-calls/{failed['call_id']}"), headers=auditor
        ).json()
        assert [h["status_code"] for h in detail["history"]] == [503, 503, 503]

        # Auditors only read; an owner retries once the network answers again.
        retry = world.url(f"/v1/connector-calls/{failed['call_id']}/retry")
        assert httpx.post(retry, headers=auditor).status_code == 403
        fake.answer = 200
        again = httpx.post(retry, headers=world.token("owner"))
        assert again.status_code == 200, again.text
        done = await eventually(
            lambda: call_of(world, grant),
            lambda c: c["status"] == "acknowledged",
            what="the retried call acknowledged",
        )
        assert done["attempts"] == 4 and len(fake.acknowledged(done["call_id"])) == 1
        assert all(r.signature_valid for r in fake.calls(done["call_id"]))
        assert httpx.post(retry, headers=world.token("owner")).json()["code"] == "call_not_failed"
        cleared = await eventually(
            lambda: _former_staff(world),
            lambda r: r.get("unacknowledged_connector_calls") == 0,
            what="nobody left with access once acknowledged",
        )
        assert cleared["people"] == []

        # A new secret signs from now on; removing the connector ends the calls.
        rotated = httpx.post(
            world.url(f"/v1/accounts/{account}/connector/rotate-secret"),
            headers=world.token("owner"),
        )
        assert rotated.status_code == 200
        assert rotated.json()["signing_secret"] not in (None, fake.secret)
        gone = httpx.delete(
            world.url(f"/v1/accounts/{account}/connector"), headers=world.token("owner2")
        )
        assert gone.status_code == 204
        assert (
            httpx.get(
                world.url(f"/v1/accounts/{account}/connector"), headers=world.admin
            ).status_code
            == 404
        )
        audit = await eventually(
            lambda: _audit_actions(world),
            lambda actions: (
                {
                    "account.connector_configured",
                    "account.connector_secret_rotated",
                    "account.connector_removed",
                    "connector_call.retried",
                }
                <= actions
            ),
            what="the audit entries",
        )
        assert audit
    finally:
        fake.stop()


async def test_a_credential_that_must_rotate_reaches_the_network(ns) -> None:
    fake = FakeNetwork()
    fake.start()
    try:
        identity, access = start(ns, CHORUS_CONNECTOR_MAX_ATTEMPTS="50")
        world = AccessWorld(ns, identity, access.url)
        await world.hire("owner", "owner2", "publisher")
        # Executive accounts rotate their secrets after every check-out.
        answer = httpx.post(
            world.url("/v1/accounts"),
            json={
                "network": "x",
                "handle": f"ceo-{ns.id}",
                "unit_id": "company",
                "classification": "executive",
                "owners": [world.people["owner"], world.people["owner2"]],
            },
            headers=world.admin,
        )
        assert answer.status_code == 201, answer.text
        account = answer.json()["id"]
        world.grant(account, "publisher", "publisher", approver="owner")
        made = httpx.put(
            world.url(f"/v1/accounts/{account}/connector"),
            json={"url": fake.url},
            headers=world.token("owner2"),
        )
        fake.secret = made.json()["signing_secret"]
        secret_url = world.url(f"/v1/accounts/{account}/secrets/password")
        recorded = httpx.put(secret_url, json={"value": "s3cret-pw"}, headers=world.token("owner"))
        assert recorded.status_code == 200, recorded.text
        out = httpx.post(f"{secret_url}/check-out", headers=world.token("publisher"))
        assert out.status_code == 201, out.text

        [received] = await eventually(
            lambda: _now(fake.acknowledged()), lambda r: len(r) == 1, what="the rotation call"
        )
        assert received.signature_valid
        assert received.body["action"] == "rotate_credential"
        assert received.body["secret_kind"] == "password" and received.body["grant_id"] is None
        assert received.body["secret_id"] == recorded.json()["secret_id"]
        assert received.body["network"] == "x" and received.body["account_id"] == account
        assert b"s3cret-pw" not in received.raw_body  # never the credential itself
    finally:
        fake.stop()


async def _now(value):
    return value


async def _consumed(ns, topic: str) -> int:
    offsets = await committed_offsets(ns.infra.bootstrap, f"{ns.topic_prefix}access-connectors")
    return sum(o for tp, o in offsets.items() if tp.topic == topic and o > 0)


async def _former_staff(world: AccessWorld) -> dict:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(
            world.url("/v1/reports/former-staff-with-access"), headers=world.admin
        )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _audit_actions(world: AccessWorld) -> set[str]:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(
            world.url("/v1/audit"), params={"limit": 200}, headers=world.admin
        )
    assert answer.status_code == 200, answer.text
    return {e["action"] for e in answer.json()["items"]}
