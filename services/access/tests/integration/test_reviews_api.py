"""Access reviews through two real access replicas, Kafka and the database: start, decide
(confirm, revoke, own grant refused), reminders, and the deadline closing the campaign once,
revoking the undecided grants exactly once through the core's revocation."""

from __future__ import annotations

import base64
import csv
import io
import os
from collections import Counter

import httpx

from access.domain.reviews import REPORT_COLUMNS
from chorus_kit.events.catalogue import GRANT, REVIEW
from chorus_kit.events.identity import Role
from services.access.tests.support.world import AccessWorld, events_of
from tests.support.api import bearer
from tests.support.polling import eventually

REPLICA_ENV = {
    "CHORUS_ACCESS_VAULT_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
    "CHORUS_REVIEW_TICK_SECONDS": "0.3",
    "CHORUS_REVIEW_REMINDER_FRACTIONS": "[0.5, 0.9]",
    "CHORUS_SCHEDULER_INTERVAL_SECONDS": "0.5",
}
DURATION_SECONDS = 24
OUTBOXES = ("access_reviews", "access_review_items", "grants", "accounts")


def decide(url: str, review: str, grant: str, decision: str, headers: dict[str, str]):
    return httpx.post(
        f"{url}/v1/access-reviews/{review}/items/{grant}/decision",
        json={"decision": decision},
        headers=headers,
        timeout=10,
    )


async def test_a_campaign_is_decided_reminded_and_closed_once_by_two_replicas(ns, mongo) -> None:
    identity = ns.service("identity")
    identity.start()
    first = ns.service("access", instance="a", **REPLICA_ENV)
    first.start()
    second = ns.service("access", instance="b", **REPLICA_ENV)
    second.start()
    world = AccessWorld(ns, identity, first.url)
    await world.hire("owner1", "owner2", "publisher", "viewer1", "viewer2", "viewer3")
    account = world.register_account(f"brand-{ns.id}", ["owner1", "owner2"])
    grants = {
        name: world.grant(account, name, role, approver="owner1")
        for name, role in [
            ("publisher", "publisher"),
            ("viewer1", "viewer"),
            ("viewer2", "viewer"),
            ("viewer3", "viewer"),
        ]
    }
    grants["owner1"] = world.owner_grant(account, "owner1")
    grants["owner2"] = world.owner_grant(account, "owner2")

    # Admins over the unit start it; staff and admins elsewhere may not.
    body = {"unit_id": "company", "duration_seconds": DURATION_SECONDS, "undecided": "revoke"}
    reviews = f"{first.url}/v1/access-reviews"
    assert httpx.post(reviews, json=body, headers=world.token("owner1")).status_code == 403
    elsewhere = bearer(ns.token(Role.ADMIN, "other-unit", sub="admin-2"))
    assert httpx.post(reviews, json=body, headers=elsewhere).status_code == 403
    started = httpx.post(reviews, json=body, headers=world.admin)
    assert started.status_code == 201, started.text
    review = started.json()
    assert review["status"] == "open" and review["items"] == 6

    # The owners see what they review; each decides on either replica.
    mine = httpx.get(
        f"{second.url}/v1/access-reviews/{review['id']}/items",
        params={"mine": "true"},
        headers=world.token("owner1"),
    ).json()["items"]
    assert {i["grant_id"] for i in mine} == {
        grants[n] for n in ("publisher", "viewer1", "viewer2", "viewer3", "owner2")
    }
    r = review["id"]
    assert (
        decide(first.url, r, grants["publisher"], "confirm", world.token("owner1")).json()[
            "decision"
        ]
        == "confirm"
    )
    revoked_now = decide(second.url, r, grants["viewer1"], "revoke", world.token("owner2"))
    assert revoked_now.status_code == 200 and revoked_now.json()["outcome"] == "revoked"
    assert (
        decide(first.url, r, grants["owner2"], "confirm", world.token("owner1")).status_code == 200
    )
    assert (
        decide(second.url, r, grants["owner1"], "confirm", world.token("owner2")).status_code == 200
    )
    own = decide(first.url, r, grants["owner1"], "confirm", world.token("owner1"))
    assert own.status_code == 403 and own.json()["code"] == "own_grant"
    stranger = decide(second.url, r, grants["viewer2"], "confirm", world.token("publisher"))
    assert stranger.status_code == 403 and stranger.json()["code"] == "not_reviewer"
    twice = decide(first.url, r, grants["publisher"], "revoke", world.token("owner2"))
    assert twice.status_code == 409 and twice.json()["code"] == "already_decided"
    pending = httpx.get(
        f"{first.url}/v1/access-reviews",
        params={"to_review": "true"},
        headers=world.token("owner2"),
    ).json()["items"]
    assert [p["id"] for p in pending] == [r]

    # The deadline passes; one replica closes it, revoking the undecided grants.
    closed = await eventually(
        lambda: _review(first.url, r, world.admin),
        lambda x: x["status"] == "closed",
        timeout=DURATION_SECONDS + 40,
        what="the campaign closed at its deadline",
    )
    assert (closed["confirmed"], closed["revoked"], closed["undecided_count"]) == (3, 1, 2)
    late = decide(second.url, r, grants["viewer2"], "confirm", world.token("owner1"))
    assert late.status_code == 409 and late.json()["code"] == "review_closed"

    # Once every outbox is drained, count what reached Kafka: each effect exactly once
    # (delivery is at least once: a message relayed twice keeps its id, consumers drop it).
    database = mongo[ns.database("access")]
    await eventually(
        lambda: _pending_outboxes(database),
        lambda n: n == 0,
        what="every outbox published",
    )
    revocations = Counter(
        (data["grant_id"], data["reason"], data["revoked_by"])
        for _, data, _ in _distinct(await events_of(ns, GRANT.name, "chorus.access.grant.revoked"))
    )
    assert revocations == {
        (grants["viewer1"], "review_revoked", world.people["owner2"]): 1,
        (grants["viewer2"], "review_undecided", "system"): 1,
        (grants["viewer3"], "review_undecided", "system"): 1,
    }
    events = _distinct(await events_of(ns, REVIEW.name))
    kinds = Counter(kind.rsplit(".", 1)[1] for kind, _, _ in events)
    assert kinds == {"started": 1, "decided": 4, "reminder_due": 4, "closed": 1}
    reminders = Counter(
        (data["owner_id"], data["pending"]) for kind, data, _ in events if kind.endswith("due")
    )
    assert reminders == {(world.people["owner1"], 2): 2, (world.people["owner2"], 2): 2}
    [(_, summary, _)] = [e for e in events if e[0].endswith("closed")]
    assert summary == {
        "review_id": r,
        "confirmed": 3,
        "revoked": 1,
        "undecided": 2,
        "undecided_action": "revoke",
    }

    # The report: every grant, its decision and what became of it (JSON and CSV).
    auditor = bearer(ns.token(Role.AUDITOR, "company", sub="auditor-1"))
    report = httpx.get(f"{second.url}/v1/access-reviews/{r}/report", headers=auditor).json()
    outcomes = {i["holder_id"]: (i["decision"], i["outcome"]) for i in report["items"]}
    people = world.people
    assert outcomes == {
        people["publisher"]: ("confirm", "kept"),
        people["viewer1"]: ("revoke", "revoked"),
        people["viewer2"]: (None, "revoked"),
        people["viewer3"]: (None, "revoked"),
        people["owner1"]: ("confirm", "kept"),
        people["owner2"]: ("confirm", "kept"),
    }
    exported = httpx.get(
        f"{first.url}/v1/access-reviews/{r}/report", headers={**auditor, "Accept": "text/csv"}
    )
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert exported.headers["content-type"].startswith("text/csv")
    assert tuple(rows[0]) == REPORT_COLUMNS and len(rows) == 7
    forbidden = httpx.get(
        f"{first.url}/v1/access-reviews/{r}/report", headers=world.token("owner1")
    )
    assert forbidden.status_code == 403
    still = httpx.get(f"{first.url}/v1/grants/{grants['publisher']}", headers=world.admin).json()
    assert still["active"] is True


def _distinct(events: list[tuple[str, dict, str]]) -> list[tuple[str, dict, str]]:
    """One per event id; a redelivered copy must be the same event."""
    seen: dict[str, tuple[str, dict, str]] = {}
    for event in events:
        assert seen.setdefault(event[2], event) == event
    return list(seen.values())


async def _review(url: str, review_id: str, headers: dict[str, str]) -> dict:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(f"{url}/v1/access-reviews/{review_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _pending_outboxes(database) -> int:
    return sum([await database[c].count_documents({"outbox_pending": True}) for c in OUTBOXES])
