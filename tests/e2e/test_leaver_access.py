"""Someone leaves, end to end through Kafka: an HR system deactivates them over SCIM in
identity, and access revokes every grant, ends their leases, flags what they checked out,
hands their ownership to their manager, calls the network's connector, and says so once.

Identity and access run as processes on a real Kafka and FerretDB; the network's admin API
is a small fake on loopback (the connector tests' `FakeNetwork`, which checks signatures).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import httpx

from chorus_kit.events.identity import Role
from services.access.tests.support.fake_network import FakeNetwork
from tests.support.api import bearer, hire
from tests.support.kafka import read_topic
from tests.support.polling import eventually

ACCESS_ENV = {
    "CHORUS_ACCESS_VAULT_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
    "CHORUS_CONNECTOR_FIRST_RETRY_SECONDS": "0.2",
    "CHORUS_CONNECTOR_MAX_RETRY_SECONDS": "0.6",
    "CHORUS_CONNECTOR_TICK_SECONDS": "0.2",
    "CHORUS_UNIT_TREE_CACHE_SECONDS": "0.2",
}
COMPLETED = "chorus.access.offboarding.completed"


class Staff:
    """People hired in identity, known to access, and calls to access as any of them."""

    def __init__(self, ns: Any, identity: Any, access: Any) -> None:
        self.ns, self.identity, self.access = ns, identity, access
        self.admin = ns.token(Role.ADMIN, "company")
        self.ids: dict[str, str] = {}

    async def hire(self, name: str, manager: str | None = None) -> str:
        fields = {"manager_id": self.ids[manager]} if manager else {}
        answer = await asyncio.to_thread(
            hire, self.identity.url, self.admin, f"{name}-{self.ns.id}", **fields
        )
        assert answer.status_code == 201, answer.text
        self.ids[name] = answer.json()["id"]
        await eventually(
            lambda: self.get(f"/v1/employment/{self.ids[name]}"),
            lambda r: r.status_code == 200 and r.json()["status"] == "active",
            what=f"access knows {name}",
        )
        return self.ids[name]

    def token(self, name: str) -> str:
        return str(self.ns.token(Role.EMPLOYEE, "company", sub=self.ids[name]))

    def call(self, method: str, path: str, token: str | None = None, **body: Any) -> Any:
        answer = httpx.request(
            method,
            f"{self.access.url}{path}",
            json=body or None,
            headers=bearer(token or self.admin),
            timeout=15,
        )
        assert answer.status_code in (200, 201), f"{method} {path}: {answer.text}"
        return answer.json()

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.get(f"{self.access.url}{path}", headers=bearer(self.admin))

    async def read(self, path: str) -> Any:
        return (await self.get(path)).json()


async def completions(ns: Any) -> list[dict[str, Any]]:
    records = await read_topic(ns.infra.bootstrap, ns.topic("chorus.access.offboarding.v1"))
    return [
        json.loads(r.value) for r in records if dict(r.headers)["ce_type"].decode() == COMPLETED
    ]


async def test_scim_deactivation_revokes_everything_the_leaver_held(ns) -> None:
    fake = FakeNetwork()
    fake.start()
    try:
        identity = ns.service("identity")
        identity.start()
        access = ns.service("access", **ACCESS_ENV)
        access.start()
        staff = Staff(ns, identity, access)
        for name, manager in (("mgr", None), ("pat", None), ("bob", None), ("ann", "mgr")):
            await staff.hire(name, manager)

        # ann owns one account with pat (mgr is eligible to take over) and publishes on
        # another, which has a revocation connector pointing at the fake network.
        owned = staff.call(
            "POST", "/v1/accounts", network="x", handle=f"ann-{ns.id}", unit_id="company",
            classification="brand", owners=[staff.ids["ann"], staff.ids["pat"]],
        )  # fmt: skip
        brand = staff.call(
            "POST", "/v1/accounts", network="linkedin", handle=f"brand-{ns.id}",
            unit_id="company", classification="brand", owners=[staff.ids["pat"], staff.ids["bob"]],
        )  # fmt: skip
        made = staff.call("PUT", f"/v1/accounts/{brand['id']}/connector", url=fake.url)
        fake.secret = made["signing_secret"]
        asked = staff.call(
            "POST", "/v1/access-requests", staff.token("ann"),
            account_id=brand["id"], role="publisher", justification="campaign",
        )  # fmt: skip
        publisher = staff.call(
            "POST", f"/v1/access-requests/{asked['id']}/approve", staff.token("pat")
        )["grant"]
        owner_grant = next(
            g
            for g in staff.call("GET", f"/v1/grants?holder_id={staff.ids['ann']}")["items"]
            if g["role"] == "owner"
        )
        # Secrets on both accounts, both checked out by ann and still out.
        staff.call("PUT", f"/v1/accounts/{owned['id']}/secrets/password", staff.token("ann"),
                   value="owned-password-1")  # fmt: skip
        staff.call("PUT", f"/v1/accounts/{brand['id']}/secrets/password", staff.token("pat"),
                   value="brand-password-1")  # fmt: skip
        leases = [
            staff.call(
                "POST", f"/v1/accounts/{account}/secrets/password/check-out", staff.token("ann")
            )["lease"]
            for account in (owned["id"], brand["id"])
        ]

        # The HR system deactivates ann over SCIM.
        client = httpx.post(
            f"{identity.url}/v1/provisioning-clients",
            json={"name": "HR", "unit_id": "company"},
            headers=bearer(staff.admin),
            timeout=10,
        )
        assert client.status_code == 201, client.text
        deactivated = httpx.patch(
            f"{identity.url}/scim/v2/Users/{staff.ids['ann']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            },
            headers={**bearer(client.json()["token"]), "Content-Type": "application/scim+json"},
            timeout=10,
        )
        assert deactivated.status_code == 200, deactivated.text

        # Every grant revoked ...
        for grant in (publisher, owner_grant):
            revoked = await eventually(
                lambda g=grant: staff.read(f"/v1/grants/{g['id']}"),
                lambda g: g.get("revoked_at") is not None,
                what=f"{grant['role']} grant revoked",
            )
            assert revoked["offboarding_id"]
        # ... leases ended, secrets flagged for rotation ...
        for lease in leases:
            ended = await eventually(
                lambda lease=lease: staff.read(f"/v1/leases/{lease['lease_id']}"),
                lambda found: found.get("status") == "ended",
                what="lease ended",
            )
            assert ended["offboarding_id"] == revoked["offboarding_id"]
        for account in (owned["id"], brand["id"]):
            secret = await eventually(
                lambda a=account: staff.read(f"/v1/accounts/{a}/secrets/password"),
                lambda s: s.get("rotation_required") is True,
                what="secret flagged for rotation",
            )
            assert [f["person_id"] for f in secret["rotation_flags"]] == [staff.ids["ann"]]
        # ... ownership handed to ann's manager ...
        account = await staff.read(f"/v1/accounts/{owned['id']}")
        assert sorted(account["owners"]) == sorted([staff.ids["pat"], staff.ids["mgr"]])
        # ... and the network told, over the connector, signed.
        acknowledged = await eventually(
            lambda: asyncio.to_thread(fake.acknowledged),
            lambda calls: (
                any(publisher["id"] in c.raw_body.decode() for c in calls)
                and any(b"rotate" in c.raw_body for c in calls)
            ),
            what="the network got the revocation and the rotation",
        )
        assert all(c.signature_valid and c.fresh for c in acknowledged)

        # Exactly one completion, saying what was done.
        [done] = await eventually(
            lambda: completions(ns), lambda found: len(found) >= 1, what="completion event"
        )
        assert done["person_id"] == staff.ids["ann"] and done["trigger"] == "offboarded"
        assert done["grants_revoked"] == sorted([publisher["id"], owner_grant["id"]])
        assert done["leases_ended"] == sorted(lease["lease_id"] for lease in leases)
        assert len(done["secrets_flagged"]) == 2
        assert done["ownership"] == [
            {"account_id": owned["id"], "from_id": staff.ids["ann"], "to_id": staff.ids["mgr"]}
        ]
        # The brand account's connector: the publisher grant's revocation and its secret's
        # rotation.
        assert done["connector_calls"] == 2
        assert len(await completions(ns)) == 1
    finally:
        fake.stop()
