"""Access's live events through the gateway's subscriptions, fed from Kafka: each reaches
those who may see it and nobody else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chorus_kit.events.identity import Role
from tests.support.access_world import AccessWorld, access_world
from tests.support.graphql import next_payload


@pytest.fixture(scope="module")
async def world(stack) -> AsyncIterator[AccessWorld]:
    with access_world(stack) as built:
        built.unit("dept-sa")
        built.unit("dept-sb")
        await built.hire("dept-sa", "owner_a1", "owner_a2", "asker_a", "second_a")
        await built.hire("dept-sb", "owner_b1", "owner_b2", "asker_b")
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
