"""Grants expire by access's own scheduler, once each, with two replicas ticking at once and
one of them killed and restarted: every `expiring` and `expired` event exists exactly once
per grant (counted on Kafka by event id: delivery is at least once, an effect is not)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from chorus_kit.events.catalogue import GRANT
from tests.support.polling import eventually

EXPIRING = "chorus.access.grant.expiring"
EXPIRED = "chorus.access.grant.expired"


async def _all(grants, ids: list[str], condition: dict) -> bool:
    return await grants.count_documents({"_id": {"$in": ids}, **condition}) == len(ids)


async def test_each_grant_expires_exactly_once_across_replicas_and_a_restart(
    ns, fast_env, make_company
) -> None:
    identity = ns.service("identity")
    await asyncio.to_thread(identity.start)
    env = {
        **fast_env,
        "CHORUS_SCHEDULER_INTERVAL_SECONDS": "0.2",
        "CHORUS_GRANT_EXPIRING_LEAD_SECONDS": "5",
    }
    one = ns.service("access", instance="1", **env)
    two = ns.service("access", instance="2", **env)
    await asyncio.gather(asyncio.to_thread(one.start), asyncio.to_thread(two.start))
    company = make_company(identity, one)
    await company.units(("sub-a", "subsidiary", "company"))
    people = [(f"p{i}", "sub-a") for i in range(8)]
    await company.hire(("o1", "sub-a"), ("o2", "sub-a"), *people)
    account = company.register("expiring", "sub-a", ["o1", "o2"])["id"]
    grants = company.db["grants"]

    # Batch A, made through both replicas, expires while both tick.
    batch_a = []
    for i in range(4):
        company.access = (one, two)[i % 2]
        batch_a.append(company.grant(account, f"p{i}", "publisher", "o1", duration_seconds=8)["id"])
    await eventually(
        lambda: _all(grants, batch_a, {"expiring_sent": True}),
        timeout=30,
        what="batch A announced (both replicas running)",
    )
    await eventually(
        lambda: _all(grants, batch_a, {"revoked_at": {"$ne": None}}),
        timeout=30,
        what="batch A expired (both replicas running)",
    )

    # Batch B: replica 1 is killed and restarted, then replica 2 is killed; the restarted
    # replica alone announces and ends batch B, from what is stored.
    company.access = two
    batch_b = [
        company.grant(account, f"p{i}", "viewer", "o2", duration_seconds=9)["id"]
        for i in range(4, 8)
    ]
    one.kill()
    await asyncio.to_thread(one.start)
    two.kill()
    company.access = one
    await eventually(
        lambda: _all(grants, batch_b, {"revoked_at": {"$ne": None}, "expiring_sent": True}),
        timeout=40,
        what="batch B announced and expired by the restarted replica",
    )
    await asyncio.to_thread(two.start)

    everyone = batch_a + batch_b
    stored = await grants.find({"_id": {"$in": everyone}}).to_list()
    assert all(g["revoked_at"] == g["expires_at"] for g in stored)  # ended at expiry
    assert all(g["revoke_reason"] == "expired" and g["revoked_by"] == "system" for g in stored)
    await eventually(
        lambda: grants.count_documents({"_id": {"$in": everyone}, "outbox_pending": True}),
        lambda pending: pending == 0,
        what="every grant's events published",
    )
    events = await company.events(GRANT.name)
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for kind, subject, _, event_id in events:
        if subject in everyone:
            ids[(subject, kind)].add(event_id)
    for grant_id in everyone:
        assert len(ids[(grant_id, EXPIRING)]) == 1, grant_id
        assert len(ids[(grant_id, EXPIRED)]) == 1, grant_id
    assert not any(kind.endswith("revoked") for kind, _, _, _ in events)

    # One claim per effect, each finished; one audit entry per expiry and per notice.
    claims = await company.db["grant_claims"].find({"grant_id": {"$in": everyone}}).to_list()
    assert sorted(c["_id"] for c in claims) == sorted(
        f"{g}:{effect}" for g in everyone for effect in ("end", "expiring")
    )
    assert all(c["finished"] for c in claims)
    audit = company.db["audit"]
    await eventually(
        lambda: audit.count_documents({"target_id": {"$in": everyone}, "action": "grant.expired"}),
        lambda n: n == len(everyone),
        what="one audit entry per expiry",
    )
    assert await audit.count_documents(
        {"target_id": {"$in": everyone}, "action": "grant.expiring"}
    ) == len(everyone)
