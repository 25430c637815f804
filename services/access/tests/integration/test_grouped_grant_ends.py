"""Grants closed by grouped writes (the leaver flow's), on the real database: each group
closes only what is still open at its sequence, and says which grants it closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from access.adapters.grant_store import GrantStore, GroupedEnd
from access.domain.grants import Grant
from chorus_kit.events.access import AccountRole
from chorus_kit.outbox import PENDING

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def grant(grant_id: str, holder: str) -> Grant:
    return Grant(
        id=grant_id,
        account_id=f"acct-{grant_id}",
        account_unit_id="company",
        holder_id=holder,
        role=AccountRole.VIEWER,
        granted_at=NOW - timedelta(days=3),
        granted_by="owner",
        expires_at=NOW + timedelta(days=30),
    )


def ending(offboarding: str, grant_ids: list[str], *, before: int = 2) -> GroupedEnd:
    return GroupedEnd(
        grant_ids,
        expected_sequence=before,
        sequence=before + 1,
        revoked_at=NOW,
        revoked_by="system",
        reason="offboarded",
        offboarding_id=offboarding,
    )


async def test_each_group_closes_what_is_still_as_read_and_names_it(ns, mongo) -> None:
    store = GrantStore(mongo[ns.database("access")])
    await store.prepare()
    for g in ("a1", "a2", "a3", "a4"):
        await store.add(grant(g, "ann"))
    for g in ("b1", "b2"):
        await store.add(grant(g, "bob"))
    # As the relay leaves them once their first events are out: at sequence 2, nothing
    # pending; a4 changed since ann's group was read.
    await store.collection.update_many({}, {"$set": {"sequence": 2, PENDING: False}})
    await store.collection.update_one({"_id": "a4"}, {"$set": {"sequence": 3}})

    closed = await store.end_grouped(
        [ending("off-ann", ["a1", "a2", "a3", "a4"]), ending("off-bob", ["b1", "b2"])]
    )
    assert closed == [{"a1", "a2", "a3"}, {"b1", "b2"}]
    read = await store.read_for_ending(["a1", "a2", "a3", "a4", "b1", "b2"])
    assert read.carried == {
        "a1": ("off-ann", 2),
        "a2": ("off-ann", 2),
        "a3": ("off-ann", 2),
        "b1": ("off-bob", 2),
        "b2": ("off-bob", 2),
    }
    assert read.grants["a4"].is_open and not read.grants["b2"].is_open
    assert read.grants["b2"].sequence == 3 and read.grants["b2"].revoke_reason == "offboarded"

    # Again (a redelivery): nothing closes twice, and each group still names what is its own.
    again = await store.end_grouped(
        [ending("off-ann", ["a1", "a2", "a3", "a4"]), ending("off-other", ["b1", "b2"])]
    )
    assert again == [{"a1", "a2", "a3"}, set()]
