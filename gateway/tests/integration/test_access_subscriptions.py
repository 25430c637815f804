"""Access's live events through the gateway's subscriptions, fed from Kafka and emitted by
the real access service: each reaches those who may see it and nobody else. Access runs
with short lead times (a grant is announced 4 s before it ends; a review's reminders at
half and nine tenths of its time, looked for every 0.3 s)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from chorus_kit.events.identity import Role
from tests.support.access_world import AccessWorld, access_world
from tests.support.graphql import next_payload


@pytest.fixture(scope="module")
async def world(stack) -> AsyncIterator[AccessWorld]:
    with access_world(
        stack,
        CHORUS_GRANT_EXPIRING_LEAD_SECONDS="4",
        CHORUS_REVIEW_TICK_SECONDS="0.3",
        CHORUS_REVIEW_REMINDER_FRACTIONS="[0.5, 0.9]",
    ) as built:
        built.unit("dept-sa")
        built.unit("dept-sb")
        await built.hire(
            "dept-sa", "owner_a1", "owner_a2", "asker_a", "second_a", "leaver_a", "pub_a"
        )
        await built.hire("dept-sb", "owner_b1", "owner_b2", "asker_b", "leaver_b", "pub_b")
        await built.register("s-a", "dept-sa", ["owner_a1", "owner_a2"])
        await built.register("s-b", "dept-sb", ["owner_b1", "owner_b2"])
        yield built


WAITING = """subscription {
  accessRequestWaitingForMe { requestId accountId requesterId role justification
    account { handle } }
}"""
REQUEST = """mutation($input: RequestAccessInput!) {
  requestAccess(input: $input) { __typename ... on AccessRequest { id } }
}"""


def _request(world: AccessWorld, who: str, handle: str) -> str:
    made = world.gql.data(
        REQUEST,
        {
            "input": {
                "accountId": world.accounts[handle],
                "role": "PUBLISHER",
                "justification": f"{who} needs it",
            }
        },
        token=world.token(who),
    )["requestAccess"]
    assert made["__typename"] == "AccessRequest", made
    return str(made["id"])


async def test_a_request_reaches_its_deciders_only(world: AccessWorld) -> None:
    owner_a = await world.gql.subscribe(WAITING, token=world.token("owner_a1"))
    owner_b = await world.gql.subscribe(WAITING, token=world.token("owner_b1"))
    asker = await world.gql.subscribe(WAITING, token=world.token("asker_a"))
    try:
        on_a = await asyncio.to_thread(_request, world, "asker_a", "s-a")
        received: dict[str, Any] = await next_payload(owner_a)
        assert received == {
            "data": {
                "accessRequestWaitingForMe": {
                    "requestId": on_a,
                    "accountId": world.accounts["s-a"],
                    "requesterId": world.people["asker_a"],
                    "role": "PUBLISHER",
                    "justification": "asker_a needs it",
                    "account": {"handle": "s-a"},
                }
            }
        }
        # B's owner is not told of A's request: the first thing they get is B's own.
        on_b = await asyncio.to_thread(_request, world, "asker_b", "s-b")
        first_for_b = await next_payload(owner_b)
        assert first_for_b["data"]["accessRequestWaitingForMe"]["requestId"] == on_b
        # The requester heard nothing of their own request, nor of B's; made an owner,
        # they hear of the next request on the account.
        made_owner = await asyncio.to_thread(
            world.call,
            "POST",
            f"/v1/accounts/{world.accounts['s-a']}/owners",
            world.admin,
            {"person_id": world.people["asker_a"]},
        )
        assert made_owner.status_code == 200, made_owner.text
        for_asker = await asyncio.to_thread(_request, world, "second_a", "s-a")
        first_for_asker = await next_payload(asker)
        assert first_for_asker["data"]["accessRequestWaitingForMe"]["requestId"] == for_asker
    finally:
        for ws in (owner_a, owner_b, asker):
            await ws.close()


COVERAGE = """subscription {
  accountBelowTwoOwners { accountId handle activeOwners ownerIds }
}"""


async def test_an_account_below_two_owners_reaches_its_owners_and_admins(
    world: AccessWorld,
) -> None:
    admin_a = world.stack.tokens("admin-sa", (Role.ADMIN, "dept-sa"))
    admin_b = world.stack.tokens("admin-sb", (Role.ADMIN, "dept-sb"))
    watch_a = await world.gql.subscribe(COVERAGE, token=admin_a)
    watch_b = await world.gql.subscribe(COVERAGE, token=admin_b)
    owner_left = await world.gql.subscribe(COVERAGE, token=world.token("owner_b1"))
    try:
        account_a = await world.register("s-low-a", "dept-sa", ["owner_a1", "owner_a2"])
        account_b = await world.register("s-low-b", "dept-sb", ["owner_b1", "owner_b2"])
        for account, owner in ((account_a, "owner_a2"), (account_b, "owner_b2")):
            removed = await asyncio.to_thread(
                world.call,
                "DELETE",
                f"/v1/accounts/{account['id']}/owners/{world.people[owner]}",
                world.admin,
            )
            assert removed.status_code == 200, removed.text
        seen_a = (await next_payload(watch_a))["data"]["accountBelowTwoOwners"]
        assert seen_a == {
            "accountId": account_a["id"],
            "handle": "s-low-a",
            "activeOwners": 1,
            "ownerIds": [world.people["owner_a1"]],
        }
        # dept-sb's admin and B's remaining owner hear of B's account, not of A's.
        seen_b = (await next_payload(watch_b))["data"]["accountBelowTwoOwners"]
        assert seen_b["accountId"] == account_b["id"]
        by_owner = (await next_payload(owner_left))["data"]["accountBelowTwoOwners"]
        assert by_owner["accountId"] == account_b["id"]
    finally:
        for ws in (watch_a, watch_b, owner_left):
            await ws.close()


# --- an offboarding, end to end: identity, access's leaver flow, Kafka, the gateway -------------
COMPLETIONS = """subscription {
  offboardingCompleted {
    personId trigger grantsRevoked leasesEnded secretsFlagged connectorCalls
    ownership { accountId }
    person { email status }
  }
}"""
OFFBOARD = """mutation($id: ID!) {
  offboardEmployee(id: $id, reason: "left the company") { __typename ... on Employee { status } }
}"""


def _offboard(world: AccessWorld, who: str) -> None:
    done = world.gql.data(OFFBOARD, {"id": world.people[who]}, token=world.admin)
    assert done["offboardEmployee"] == {"__typename": "Employee", "status": "OFFBOARDED"}


async def test_offboarding_someone_reports_what_access_took_away(world: AccessWorld) -> None:
    grant = await asyncio.to_thread(
        world.grant, world.accounts["s-a"], "leaver_a", "publisher", "owner_a1"
    )
    company_admin = await world.gql.subscribe(COMPLETIONS, token=world.admin)
    admin_b = world.stack.tokens("admin-sb-off", (Role.ADMIN, "dept-sb"))
    other_admin = await world.gql.subscribe(COMPLETIONS, token=admin_b)
    try:
        await asyncio.to_thread(_offboard, world, "leaver_a")
        done = (await next_payload(company_admin))["data"]["offboardingCompleted"]
        assert done == {
            "personId": world.people["leaver_a"],
            "trigger": "offboarded",
            "grantsRevoked": [grant["id"]],
            "leasesEnded": [],
            "secretsFlagged": [],
            "connectorCalls": 0,
            "ownership": [],
            "person": {"email": world.emails["leaver_a"], "status": "OFFBOARDED"},
        }
        # The grant is gone, as the completion said.
        left = await asyncio.to_thread(world.call, "GET", f"/v1/grants/{grant['id']}", world.admin)
        assert left.status_code == 200 and left.json()["active"] is False
        # dept-sb's admin was not told of dept-sa's leaver: the first completion they get
        # is their own unit's.
        await asyncio.to_thread(_offboard, world, "leaver_b")
        theirs = (await next_payload(other_admin))["data"]["offboardingCompleted"]
        assert theirs["personId"] == world.people["leaver_b"]
        assert theirs["grantsRevoked"] == []
    finally:
        for ws in (company_admin, other_admin):
            await ws.close()


# --- a grant about to end ----------------------------------------------------------------------
EXPIRING = """subscription {
  grantExpiringSoon { grantId accountId holderId role expiresAt account { handle } }
}"""
SHORT_REQUEST = """mutation($input: RequestAccessInput!) {
  requestAccess(input: $input) { __typename ... on AccessRequest { id } }
}"""
APPROVE = """mutation($id: ID!) {
  approveAccessRequest(id: $id) { __typename ... on AccessDecision { grant { id expiresAt } } }
}"""


def _short_grant(world: AccessWorld, who: str, handle: str, approver: str) -> dict[str, Any]:
    """A publisher grant of 10 s, asked and approved through the gateway."""
    asked = world.gql.data(
        SHORT_REQUEST,
        {
            "input": {
                "accountId": world.accounts[handle],
                "role": "PUBLISHER",
                "justification": "one post",
                "durationSeconds": 10,
            }
        },
        token=world.token(who),
    )["requestAccess"]
    assert asked["__typename"] == "AccessRequest", asked
    approved = world.gql.data(APPROVE, {"id": asked["id"]}, token=world.token(approver))
    grant: dict[str, Any] = approved["approveAccessRequest"]["grant"]
    return grant


async def test_a_grant_expiring_soon_reaches_its_holder_owners_and_admins(
    world: AccessWorld,
) -> None:
    admin_a = world.stack.tokens("admin-sa-exp", (Role.ADMIN, "dept-sa"))
    admin_b = world.stack.tokens("admin-sb-exp", (Role.ADMIN, "dept-sb"))
    holder = await world.gql.subscribe(EXPIRING, token=world.token("pub_a"))
    owner = await world.gql.subscribe(EXPIRING, token=world.token("owner_a2"))
    unit_admin = await world.gql.subscribe(EXPIRING, token=admin_a)
    other_admin = await world.gql.subscribe(EXPIRING, token=admin_b)
    try:
        grant = await asyncio.to_thread(_short_grant, world, "pub_a", "s-a", "owner_a1")
        expected = {
            "grantId": grant["id"],
            "accountId": world.accounts["s-a"],
            "holderId": world.people["pub_a"],
            "role": "PUBLISHER",
            "account": {"handle": "s-a"},
        }
        for ws in (holder, owner, unit_admin):
            notice = (await next_payload(ws))["data"]["grantExpiringSoon"]
            assert _same_moment(notice.pop("expiresAt"), grant["expiresAt"])
            assert notice == expected
        # dept-sb's admin heard nothing of it: the first they hear of is dept-sb's grant.
        theirs = await asyncio.to_thread(_short_grant, world, "pub_b", "s-b", "owner_b1")
        first = (await next_payload(other_admin))["data"]["grantExpiringSoon"]
        assert first["grantId"] == theirs["id"]
    finally:
        for ws in (holder, owner, unit_admin, other_admin):
            await ws.close()


# --- a review campaign's reminders -------------------------------------------------------------
DUE = """subscription { accessReviewDue { reviewId pending deadline review { id unitId } } }"""
START_REVIEW = """mutation($input: StartAccessReviewInput!) {
  startAccessReview(input: $input) { __typename ... on AccessReview { id deadline } }
}"""


def _start_review(world: AccessWorld, unit_id: str) -> dict[str, Any]:
    """A 6 s campaign over the unit's accounts: reminders after 3 s and 5.4 s."""
    admin = world.stack.tokens(f"admin-{unit_id}-rev", (Role.ADMIN, unit_id))
    started = world.gql.data(
        START_REVIEW,
        {"input": {"unitId": unit_id, "durationSeconds": 6, "undecided": "KEEP"}},
        token=admin,
    )["startAccessReview"]
    assert started["__typename"] == "AccessReview", started
    return dict(started)


async def test_a_review_due_reaches_the_owner_reminded_only(world: AccessWorld) -> None:
    world.unit("dept-sr")
    world.unit("dept-ss")
    await world.hire("dept-sr", "rev_r1", "rev_r2")
    await world.hire("dept-ss", "rev_s1", "rev_s2")
    await world.register("s-rev-r", "dept-sr", ["rev_r1", "rev_r2"])
    await world.register("s-rev-s", "dept-ss", ["rev_s1", "rev_s2"])
    reviewer = await world.gql.subscribe(DUE, token=world.token("rev_r1"))
    elsewhere = await world.gql.subscribe(DUE, token=world.token("rev_s1"))
    try:
        review = await asyncio.to_thread(_start_review, world, "dept-sr")
        due = (await next_payload(reviewer))["data"]["accessReviewDue"]
        # rev_r1 reviews the other owner's owner grant: one item to decide.
        assert _same_moment(due.pop("deadline"), review["deadline"])
        assert due == {
            "reviewId": review["id"],
            "pending": 1,
            "review": {"id": review["id"], "unitId": "dept-sr"},
        }
        # Owners of another unit's accounts are not reminded of it: the first reminder they
        # get is of their own unit's campaign.
        theirs = await asyncio.to_thread(_start_review, world, "dept-ss")
        first = (await next_payload(elsewhere))["data"]["accessReviewDue"]
        assert first["reviewId"] == theirs["id"]
    finally:
        for ws in (reviewer, elsewhere):
            await ws.close()


def _same_moment(a: str, b: str) -> bool:
    """Equal to the millisecond (the database keeps milliseconds, an event microseconds)."""
    return abs((datetime.fromisoformat(a) - datetime.fromisoformat(b)).total_seconds()) < 0.002
