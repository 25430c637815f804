"""The vault through access's real process, database and Kafka: record, check out, check in,
expiry, rotation, and who may do what. Accounts and grants come from access's own API
(register, request, approve, revoke), as they will in production."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chorus_kit.events.catalogue import ACCESS_AUDIT, VAULT
from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire
from tests.support.kafka import read_topic
from tests.support.polling import eventually

MASTER_KEY = base64.b64encode(os.urandom(32)).decode()


class World:
    """Two departments, and people to hold grants on accounts registered in them."""

    def __init__(self, ns, mongo, identity, access) -> None:
        self.ns = ns
        self.db = mongo[ns.database("access")]
        self.access = access
        admin = ns.token(Role.ADMIN, "company")
        create_unit(identity.url, admin, "dept-a")
        create_unit(identity.url, admin, "dept-b")
        self.units = {
            "owner": "dept-a",
            "owner_2": "dept-a",
            "publisher": "dept-a",
            "viewer": "dept-a",
            "owner_b": "dept-b",
            "publisher_b": "dept-b",
        }
        self.people = {
            name: hire(identity.url, admin, f"{name}-{ns.id}", unit_id=unit).json()["id"]
            for name, unit in self.units.items()
        }
        self.grants: dict[tuple[str, str], str] = {}  # (account, person) -> grant id

    async def account(
        self, unit_id: str, grants: dict[str, str], *, classification: str = "brand"
    ) -> str:
        """An account registered through access's API (once access has heard of the unit
        and the owners from identity), with the other grants requested and approved."""
        owners = [self.people[p] for p, role in grants.items() if role == "owner"]
        admin = bearer(self.ns.token(Role.ADMIN, "company", sub="admin-1"))
        body = {
            "network": "linkedin",
            "handle": f"h{uuid.uuid4().hex[:10]}",
            "unit_id": unit_id,
            "classification": classification,
            "owners": owners,
        }

        async def register() -> httpx.Response:
            return httpx.post(self.url("/v1/accounts"), json=body, headers=admin, timeout=10)

        registered = await eventually(
            register, lambda r: r.status_code == 201, what="the account registered"
        )
        account_id = str(registered.json()["id"])
        decider = self.token(next(p for p, role in grants.items() if role == "owner"))
        for person, role in grants.items():
            if role == "owner":
                continue
            asked = httpx.post(
                self.url("/v1/access-requests"),
                json={
                    "account_id": account_id,
                    "role": role,
                    "justification": "tests",
                    "duration_days": 7,
                },
                headers=self.token(person),
            )
            assert asked.status_code == 201, asked.text
            decided = httpx.post(
                self.url(f"/v1/access-requests/{asked.json()['id']}/approve"), headers=decider
            )
            assert decided.status_code == 200, decided.text
            self.grants[(account_id, person)] = decided.json()["grant"]["id"]
        return account_id

    def token(self, person: str) -> dict[str, str]:
        unit = self.units[person]
        return bearer(self.ns.token(Role.EMPLOYEE, unit, sub=self.people[person]))

    def url(self, path: str) -> str:
        return f"{self.access.url}{path}"


@pytest.fixture
def world(ns, mongo) -> World:
    identity = ns.service("identity")
    identity.start()
    access = ns.service(
        "access", CHORUS_ACCESS_VAULT_MASTER_KEY=MASTER_KEY, CHORUS_VAULT_TICK_SECONDS="0.3"
    )
    access.start()
    return World(ns, mongo, identity, access)


async def relayed(collection: Any, query: dict[str, Any]) -> None:
    """Wait until the relay has published the document's events: FerretDB v1 loses one of
    two concurrent writes to a document, so the test's own write must not meet the relay's."""
    await eventually(
        lambda: collection.find_one(query),
        lambda d: d is not None and not d["outbox_pending"],
        what="events relayed",
    )


async def vault_events(ns, *, count: int) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of the vault's events; partitions concatenated, so not in time order."""
    records = await eventually(
        lambda: read_topic(ns.infra.bootstrap, ns.topic(VAULT.name)),
        lambda r: len(r) >= count,
        what=f"{count} vault events",
    )
    return [(dict(r.headers)["ce_type"].decode(), json.loads(r.value)) for r in records]


async def test_owners_record_publishers_check_out_once_and_check_in(world: World) -> None:
    account = await world.account("dept-a", {"owner": "owner", "publisher": "publisher"})
    secret_url = world.url(f"/v1/accounts/{account}/secrets/password")
    recorded = httpx.put(secret_url, json={"value": "Tr0ub4dor&3"}, headers=world.token("owner"))
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["current_version"] == 1 and "value" not in recorded.json()
    assert recorded.headers["cache-control"] == "no-store"

    out = httpx.post(
        f"{secret_url}/check-out", json={"minutes": 5}, headers=world.token("publisher")
    )
    assert out.status_code == 201, out.text
    assert out.headers["cache-control"] == "no-store"
    lease = out.json()["lease"]
    assert out.json()["secret"]["value"] == "Tr0ub4dor&3"
    assert lease["holder_id"] == world.people["publisher"] and lease["status"] == "open"
    expires = datetime.fromisoformat(lease["expires_at"])
    assert timedelta(minutes=4) < expires - datetime.now(UTC) <= timedelta(minutes=5)

    # Never again: not on the lease, not in the secret's metadata.
    lease_url = world.url(f"/v1/leases/{lease['lease_id']}")
    again = httpx.get(lease_url, headers=world.token("publisher"))
    assert again.status_code == 200 and "Tr0ub4dor" not in again.text
    assert "Tr0ub4dor" not in httpx.get(secret_url, headers=world.token("owner")).text

    back = httpx.post(f"{lease_url}/check-in", headers=world.token("publisher"))
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "ended" and back.json()["ended_because"] == "returned"
    twice = httpx.post(f"{lease_url}/check-in", headers=world.token("publisher"))
    assert twice.status_code == 409 and twice.json()["code"] == "lease_ended"

    events = dict(await vault_events(world.ns, count=3))
    assert sorted(events) == [
        "chorus.access.vault.checked_in",
        "chorus.access.vault.checked_out",
        "chorus.access.vault.rotated",
    ]
    assert events["chorus.access.vault.checked_out"]["lease_id"] == lease["lease_id"]
    assert events["chorus.access.vault.checked_in"]["ended_because"] == "returned"
    assert events["chorus.access.vault.rotated"]["version"] == 1

    # An audit entry rode with each change.
    async def vault_audit() -> list[str]:
        records = await read_topic(world.ns.infra.bootstrap, world.ns.topic(ACCESS_AUDIT.name))
        actions = [json.loads(r.value)["action"] for r in records]
        return sorted(a for a in actions if a.startswith("vault."))

    actions = await eventually(vault_audit, lambda a: len(a) >= 3, what="vault audit entries")
    assert actions == ["vault.checked_in", "vault.checked_out", "vault.secret_recorded"]

    # At rest: sealed, with a version per record.
    document = await world.db["secrets"].find_one({"account_id": account})
    assert document is not None and b"Tr0ub4dor" not in document["versions"][0]["ciphertext"]


async def test_who_may_do_what(world: World) -> None:
    a = await world.account(
        "dept-a", {"owner": "owner", "publisher": "publisher", "viewer": "viewer"}
    )
    b = await world.account("dept-b", {"owner_b": "owner", "publisher_b": "publisher"})
    for account, owner in ((a, "owner"), (b, "owner_b")):
        put = httpx.put(
            world.url(f"/v1/accounts/{account}/secrets/api_token"),
            json={"value": f"token-{account}"},
            headers=world.token(owner),
        )
        assert put.status_code == 200, put.text

    def status(method: str, path: str, headers: dict[str, str], **kw: Any) -> tuple[int, str]:
        response = httpx.request(method, world.url(path), headers=headers, **kw)
        return response.status_code, response.json().get("code", "") if response.is_error else ""

    a_secret = f"/v1/accounts/{a}/secrets/api_token"
    # Recording is for owners only.
    assert status("PUT", a_secret, world.token("publisher"), json={"value": "x"}) == (
        403,
        "not_an_owner",
    )
    # Viewers cannot check out; nor can a publisher of another account.
    assert status("POST", f"{a_secret}/check-out", world.token("viewer")) == (
        403,
        "no_active_grant",
    )
    assert status("POST", f"{a_secret}/check-out", world.token("publisher_b")) == (
        403,
        "no_active_grant",
    )
    assert status("GET", a_secret, world.token("publisher_b"))[0] == 403
    assert status("GET", f"/v1/accounts/{a}/leases", world.token("publisher_b"))[0] == 403
    # Admins over the unit see metadata, never the secret; admins elsewhere see nothing.
    admin_a = bearer(world.ns.token(Role.ADMIN, "dept-a", sub="admin-a"))
    listed = httpx.get(world.url(f"/v1/accounts/{a}/secrets"), headers=admin_a)
    assert listed.status_code == 200 and [s["kind"] for s in listed.json()] == ["api_token"]
    assert f"token-{a}" not in listed.text
    assert status("POST", f"{a_secret}/check-out", admin_a) == (403, "no_active_grant")
    admin_b = bearer(world.ns.token(Role.ADMIN, "dept-b", sub="admin-b"))
    assert status("GET", a_secret, admin_b)[0] == 403
    assert status("GET", f"/v1/accounts/{b}/secrets/api_token", admin_b)[0] == 200
    # Leases: the holder sees theirs, auditors and owners see the history, publishers not.
    out = httpx.post(world.url(f"{a_secret}/check-out"), headers=world.token("publisher"))
    assert out.status_code == 201 and out.json()["secret"]["value"] == f"token-{a}"
    lease_path = f"/v1/leases/{out.json()['lease']['lease_id']}"
    auditor = bearer(world.ns.token(Role.AUDITOR, "company", sub="auditor-1"))
    history = httpx.get(world.url(f"/v1/accounts/{a}/leases"), headers=auditor)
    assert history.status_code == 200 and len(history.json()["items"]) == 1
    assert f"token-{a}" not in history.text
    assert status("GET", f"/v1/accounts/{a}/leases", world.token("owner"))[0] == 200
    assert status("GET", f"/v1/accounts/{a}/leases", world.token("viewer"))[0] == 403
    assert status("GET", lease_path, auditor)[0] == 200
    assert status("GET", lease_path, world.token("viewer"))[0] == 403
    assert status("POST", f"{lease_path}/check-in", world.token("viewer")) == (
        403,
        "not_lease_holder",
    )
    assert status("POST", f"{lease_path}/check-in", world.token("publisher_b"))[0] == 403
    # An owner may end someone's lease on their account.
    assert status("POST", f"{lease_path}/check-in", world.token("owner"))[0] == 200
    # Without a token, nothing.
    assert status("GET", a_secret, {})[0] == 401
    # Bad input: a 4xx with a code.
    assert status("POST", f"{a_secret}/check-out", world.token("owner"), json={"minutes": 90}) == (
        400,
        "lease_duration_out_of_range",
    )
    assert (
        status("PUT", f"/v1/accounts/{a}/secrets/nonsense", world.token("owner"), json={})[0] == 422
    )
    assert status("GET", "/v1/accounts/nope/secrets", world.token("owner")) == (
        404,
        "account_not_found",
    )
    assert status("POST", f"/v1/accounts/{a}/secrets/password/check-out", world.token("owner")) == (
        404,
        "secret_not_found",
    )


def independent_totp(seed_b32: str, step: int) -> str:
    """RFC 6238 with SHA-1 and 6 digits, written out again here (not the service's code)."""
    key = base64.b32decode(seed_b32 + "=" * (-len(seed_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[19] & 15
    number = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


async def test_totp_check_outs_hand_out_the_current_code_not_the_seed(world: World) -> None:
    account = await world.account("dept-a", {"owner": "owner", "publisher": "publisher"})
    seed = base64.b32encode(os.urandom(20)).decode().rstrip("=")
    url = world.url(f"/v1/accounts/{account}/secrets/totp_seed")
    put = httpx.put(url, json={"value": seed.lower()}, headers=world.token("owner"))
    assert put.status_code == 200 and put.json()["totp_digits"] == 6
    out = httpx.post(f"{url}/check-out", headers=world.token("publisher"))
    assert out.status_code == 201, out.text
    given = out.json()["secret"]
    assert given["value"] is None and seed not in out.text and seed.lower() not in out.text
    valid_until = datetime.fromisoformat(given["code_valid_until"])
    step = int(valid_until.timestamp()) // 30 - 1
    assert given["totp_code"] == independent_totp(seed, step)


async def test_leases_past_their_time_end_by_themselves(world: World) -> None:
    account = await world.account("dept-a", {"owner": "owner", "publisher": "publisher"})
    url = world.url(f"/v1/accounts/{account}/secrets/password")
    httpx.put(url, json={"value": "expiring-secret"}, headers=world.token("owner"))
    lease_id = httpx.post(
        f"{url}/check-out", json={"minutes": 1}, headers=world.token("publisher")
    ).json()["lease"]["lease_id"]
    # A minute is long for a test: move the lease's end into the past instead.
    await relayed(world.db["leases"], {"_id": lease_id})
    await world.db["leases"].update_one(
        {"_id": lease_id}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    ended = await eventually(
        lambda: world.db["leases"].find_one({"_id": lease_id}),
        lambda d: d["status"] == "ended",
        what="the scheduler ends the lease",
    )
    assert ended["ended_because"] == "expired" and ended["ended_by"] == "system"
    events = await vault_events(world.ns, count=3)
    checked_in = [d for t, d in events if t == "chorus.access.vault.checked_in"]
    assert [d["ended_because"] for d in checked_in] == ["expired"]
    late = httpx.post(
        world.url(f"/v1/leases/{lease_id}/check-in"), headers=world.token("publisher")
    )
    assert late.status_code == 409


async def test_rotation_after_check_out_at_max_age_and_on_new_versions(world: World) -> None:
    # Executive accounts rotate after every check-out (the default policy).
    account = await world.account(
        "dept-a", {"owner": "owner", "publisher": "publisher"}, classification="executive"
    )
    url = world.url(f"/v1/accounts/{account}/secrets/password")
    httpx.put(url, json={"value": "first-version"}, headers=world.token("owner"))
    out = httpx.post(f"{url}/check-out", headers=world.token("publisher"))
    assert out.status_code == 201
    flagged = httpx.get(url, headers=world.token("owner")).json()
    assert flagged["rotation_required"] is True
    [flag] = flagged["rotation_flags"]
    assert flag["reason"] == "checked_out" and flag["person_id"] == world.people["publisher"]

    rotated = httpx.put(url, json={"value": "second-version"}, headers=world.token("owner"))
    assert rotated.json()["rotation_required"] is False
    assert [v["version"] for v in rotated.json()["versions"]] == [1, 2]
    second = httpx.post(f"{url}/check-out", headers=world.token("owner"))
    assert second.json()["secret"]["value"] == "second-version"  # old versions never returned

    # Maximum age: brand accounts allow 90 days; make the current version 100 days old.
    aged = await world.account("dept-a", {"owner": "owner"})
    aged_url = world.url(f"/v1/accounts/{aged}/secrets/api_token")
    httpx.put(aged_url, json={"value": "old-token"}, headers=world.token("owner"))
    old = datetime.now(UTC) - timedelta(days=100)
    await relayed(world.db["secrets"], {"account_id": aged})
    await world.db["secrets"].update_one(
        {"account_id": aged}, {"$set": {"rotated_at": old, "versions.0.created_at": old}}
    )
    document = await eventually(
        lambda: world.db["secrets"].find_one({"account_id": aged}),
        lambda d: d["rotation_required"],
        what="the periodic check flags the old secret",
    )
    assert [f["reason"] for f in document["rotation_flags"]] == ["max_age"]

    events = await vault_events(world.ns, count=8)
    types = [t for t, _ in events]
    assert types.count("chorus.access.vault.rotation_required") == 3  # twice, then max age
    assert types.count("chorus.access.vault.rotated") == 3
    reasons = [d["reason"] for t, d in events if t.endswith("rotation_required")]
    assert sorted(reasons) == ["checked_out", "checked_out", "max_age"]


async def test_a_lost_grant_ends_leases_and_flags_what_was_checked_out(world: World) -> None:
    account = await world.account("dept-a", {"owner": "owner", "publisher": "publisher"})
    url = world.url(f"/v1/accounts/{account}/secrets/password")
    httpx.put(url, json={"value": "shared-secret"}, headers=world.token("owner"))
    lease_id = httpx.post(f"{url}/check-out", headers=world.token("publisher")).json()["lease"][
        "lease_id"
    ]
    # An owner revokes the publisher's grant: access emits `grant.revoked`, the vault reacts.
    grant_id = world.grants[(account, "publisher")]
    revoked = httpx.post(
        world.url(f"/v1/grants/{grant_id}/revoke"),
        json={"reason": "no longer needed"},
        headers=world.token("owner"),
    )
    assert revoked.status_code == 200, revoked.text
    lease = await eventually(
        lambda: world.db["leases"].find_one({"_id": lease_id}),
        lambda d: d["status"] == "ended",
        what="the lost grant ends the lease",
    )
    assert lease["ended_because"] == "access_lost"
    secret = await world.db["secrets"].find_one({"account_id": account})
    assert [(f["reason"], f["person_id"]) for f in secret["rotation_flags"]] == [
        ("access_lost", world.people["publisher"])
    ]
    refused = httpx.post(f"{url}/check-out", headers=world.token("publisher"))
    assert refused.status_code == 403
