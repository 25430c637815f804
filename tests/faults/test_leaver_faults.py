"""The leaver flow interrupted: access SIGKILLed halfway through someone's offboarding, or
Kafka gone for 20 s while it runs. Afterwards every effect exists exactly once.

The kill falls in the grouped path's window: the non-owner grants are closed by one grouped
write whose events are carried by the completion, not yet written; the restarted access
rebuilds them from the grants (`end_carried_by`).

What is counted is what would visibly double: distinct events per effect on the topics
(a republished event keeps its id, a redone effect would not) and entries in access's
audit log; plus exactly one completion.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from chorus_kit.events.identity import Role
from tests.support.api import bearer, hire, offboard
from tests.support.kafka import read_topic
from tests.support.polling import eventually

OUTAGE_SECONDS = 20
COMPLETED = "chorus.access.offboarding.completed"


class Leaver:
    """ann, who owns an account with pat (her manager mgr takes over), publishes on one
    account and views another: three grants, one ownership to hand over."""

    def __init__(self, ns: Any, identity: Any, access: Any) -> None:
        self.ns, self.identity, self.access = ns, identity, access
        self.admin = ns.token(Role.ADMIN, "company")
        self.ids: dict[str, str] = {}
        self.grants: list[str] = []
        self.owned = ""

    async def build(self) -> None:
        for name, manager in (("mgr", None), ("pat", None), ("bob", None), ("ann", "mgr")):
            fields = {"manager_id": self.ids[manager]} if manager else {}
            made = hire(self.identity.url, self.admin, f"{name}-{self.ns.id}", **fields)
            assert made.status_code == 201, made.text
            self.ids[name] = made.json()["id"]
        await eventually(
            lambda: self.read(f"/v1/employment/{self.ids['ann']}"),
            lambda r: r.get("status") == "active",
            what="access knows ann",
        )
        await eventually(
            lambda: self.read(f"/v1/employment/{self.ids['bob']}"),
            lambda r: r.get("status") == "active",
            what="access knows everyone",
        )
        self.owned = self.account("owned", ["ann", "pat"])
        for handle, role in (("brand", "publisher"), ("jobs", "viewer")):
            account = self.account(handle, ["pat", "bob"])
            asked = self.call("POST", "/v1/access-requests", "ann", account_id=account,
                              role=role, justification="campaign")  # fmt: skip
            approved = self.call("POST", f"/v1/access-requests/{asked['id']}/approve", "pat")
            self.grants.append(approved["grant"]["id"])
        mine = self.call("GET", f"/v1/grants?holder_id={self.ids['ann']}")["items"]
        self.grants.append(next(g["id"] for g in mine if g["role"] == "owner"))

    def account(self, handle: str, owners: list[str]) -> str:
        made = self.call("POST", "/v1/accounts", network="x", handle=f"{handle}-{self.ns.id}",
                         unit_id="company", classification="brand",
                         owners=[self.ids[o] for o in owners])  # fmt: skip
        return str(made["id"])

    def call(self, method: str, path: str, who: str | None = None, **body: Any) -> Any:
        token = self.ns.token(Role.EMPLOYEE, "company", sub=self.ids[who]) if who else self.admin
        answer = httpx.request(
            method, f"{self.access.url}{path}", json=body or None, headers=bearer(token), timeout=15
        )
        assert answer.status_code in (200, 201), f"{method} {path}: {answer.text}"
        return answer.json()

    async def read(self, path: str) -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(f"{self.access.url}{path}", headers=bearer(self.admin))
            return answer.json()

    async def settled(self, mongo: Any) -> None:
        """Every grant's own events published (outbox empty): their ends take the grouped
        path (a grant with events pending ends one by one)."""
        grants = mongo[self.ns.database("access")]["grants"]
        await eventually(
            lambda: grants.count_documents({"_id": {"$in": self.grants}, "outbox_pending": True}),
            lambda pending: pending == 0,
            what="the grants' own events published",
        )

    # --- what exists afterwards ---------------------------------------------------------------
    async def events(self, topic: str) -> list[tuple[str, str, dict[str, Any], str]]:
        records = await read_topic(self.ns.infra.bootstrap, self.ns.topic(topic))
        return [
            (
                dict(r.headers)["ce_type"].decode(),
                dict(r.headers)["ce_subject"].decode(),
                json.loads(r.value),
                dict(r.headers)["ce_id"].decode(),
            )
            for r in records
        ]

    async def assert_every_effect_once(self, mongo: Any) -> None:
        done = await eventually(
            lambda: self.events("chorus.access.offboarding.v1"),
            lambda found: any(t == COMPLETED for t, _, _, _ in found),
            timeout=90,
            what="the offboarding completed",
        )
        completions = {i for t, _, _, i in done if t == COMPLETED}
        assert len(completions) == 1
        [summary] = [d for t, _, d, _ in done if t == COMPLETED][:1]
        assert summary["grants_revoked"] == sorted(self.grants)
        assert summary["ownership"] == [
            {"account_id": self.owned, "from_id": self.ids["ann"], "to_id": self.ids["mgr"]}
        ]

        # One distinct event per effect.
        revoked = Counter(
            s
            for s, _ in {
                (s, i)
                for t, s, _, i in await self.events("chorus.access.grant.v1")
                if t == "chorus.access.grant.revoked"
            }
        )
        assert revoked == Counter(self.grants)
        on_account = {
            (t, i)
            for t, s, _, i in await self.events("chorus.access.account.v1")
            if s == self.owned
        }
        kinds = Counter(t for t, _ in on_account)
        assert kinds["chorus.access.account.owner_removed"] == 1
        assert kinds["chorus.access.account.owner_added"] == 1

        # One audit entry per effect (each grant ended, the handover, the completion).
        audit = mongo[self.ns.database("access")]["audit"]
        targets = [*self.grants, self.owned, summary["offboarding_id"]]
        expected = Counter(
            {"grant.revoked": 3, "account.ownership_handed_over": 1, "offboarding.completed": 1}
        )

        async def entries() -> Counter[str]:
            found = await audit.find({"target_id": {"$in": targets}}).to_list()
            return Counter(
                e["action"] for e in found if e["action"] in expected and e.get("actor") == "system"
            )

        assert await eventually(entries, lambda c: c == expected, what="audit entries") == expected


async def test_access_killed_halfway_through_a_leaver_does_each_effect_once(ns, mongo) -> None:
    identity = ns.service("identity")
    identity.start()
    access = ns.service("access", faults="offboarding.mid_effects")
    access.start()
    leaver = Leaver(ns, identity, access)
    await leaver.build()
    await leaver.settled(mongo)

    assert offboard(identity.url, leaver.admin, leaver.ids["ann"]).status_code == 200

    # The window: the non-owner grants are ended, the ownership and the completion are not.
    offboardings = mongo[ns.database("access")]["offboardings"]
    started = await eventually(
        lambda: offboardings.find_one({"person_id": leaver.ids["ann"]}),
        what="the offboarding in progress",
    )
    for grant_id in leaver.grants[:2]:
        await eventually(
            lambda g=grant_id: leaver.read(f"/v1/grants/{g}"),
            lambda g: g.get("revoked_at") is not None,
            what="a non-owner grant ended before the kill",
        )
    owned = await leaver.read(f"/v1/accounts/{leaver.owned}")
    assert leaver.ids["ann"] in owned["owners"]
    # ... by the grouped write, their events not yet written anywhere.
    stored = (
        await mongo[ns.database("access")]["grants"]
        .find({"_id": {"$in": leaver.grants[:2]}})
        .to_list()
    )
    assert [g.get("end_carried_by") for g in stored] == [started["_id"]] * 2
    assert all(not g["outbox_pending"] for g in stored)
    assert await mongo[ns.database("access")]["offboarding_completions"].count_documents({}) == 0

    access.kill()
    access.env["CHORUS_FAULTS"] = ""
    access.start()

    await leaver.assert_every_effect_once(mongo)


async def test_kafka_away_for_20s_during_a_leaver_does_each_effect_once(ns, mongo, infra) -> None:
    if infra.kafka is None:
        pytest.skip("needs the broker this test session started itself")
    identity = ns.service("identity")
    identity.start()
    access = ns.service("access")
    access.start()
    leaver = Leaver(ns, identity, access)
    await leaver.build()
    await leaver.settled(mongo)
    offboardings = mongo[ns.database("access")]["offboardings"]

    assert offboard(identity.url, leaver.admin, leaver.ids["ann"]).status_code == 200
    # Kafka goes the moment access starts the offboarding: its events, its completion and
    # the trigger's offset commit all wait for the broker.
    await eventually(
        lambda: offboardings.find_one({"person_id": leaver.ids["ann"]}),
        every=0.005,
        what="the offboarding started",
    )
    infra.kafka.stop()
    went = time.monotonic()
    try:
        # Meanwhile access keeps working on its database.
        async with httpx.AsyncClient(timeout=10) as client:
            ready = await client.get(f"{access.url}/readyz")
        assert ready.status_code == 200
        await asyncio.sleep(max(OUTAGE_SECONDS - (time.monotonic() - went), 0))
    finally:
        infra.kafka.start()

    await leaver.assert_every_effect_once(mongo)
