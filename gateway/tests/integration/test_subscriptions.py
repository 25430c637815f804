"""Subscriptions over graphql-transport-ws, fed from Kafka: each subscriber sees what they
may see, and a subscriber whose session is revoked is disconnected."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
from websockets.exceptions import ConnectionClosed

from chorus_kit.events.access import OffboardingCompleted
from chorus_kit.events.catalogue import OFFBOARDING
from chorus_kit.events.envelope import new_event
from chorus_kit.events.identity import Role
from tests.support.api import create_unit, hire
from tests.support.graphql import next_payload
from tests.support.kafka import produce_raw

CHANGES = """subscription($unit: ID) {
  employeeChanged(unitId: $unit) { kind employeeId status unitId employee { email } }
}"""
COMPLETIONS = """subscription {
  offboardingCompleted { personId trigger grantsRevoked connectorCalls person { email } }
}"""


def _hire(stack, n, unit="company", **fields):
    response = hire(stack.identity.url, stack.token(), n, unit_id=unit, **fields)
    assert response.status_code == 201, response.text
    return response.json()


def _offboard(gql, token, person):
    result = gql.data(
        'mutation($id: ID!) { offboardEmployee(id: $id, reason: "left") { __typename } }',
        {"id": person},
        token=token,
    )
    assert result["offboardEmployee"]["__typename"] == "Employee"


async def test_employee_changes_reach_those_who_may_see_them(stack, gql) -> None:
    admin = stack.token()
    create_unit(stack.identity.url, admin, "dept-live", name="Live")
    create_unit(stack.identity.url, admin, "dept-elsewhere", name="Elsewhere")
    company_watch = await gql.subscribe(CHANGES, {"unit": "dept-live"}, token=admin)
    unit_admin = stack.token(Role.ADMIN, "dept-elsewhere", sub="elsewhere-admin")
    unit_watch = await gql.subscribe(CHANGES, token=unit_admin)
    try:
        person = await asyncio.to_thread(_hire, stack, "live1", "dept-live")
        hired = await next_payload(company_watch)
        assert hired == {
            "data": {
                "employeeChanged": {
                    "kind": "HIRED",
                    "employeeId": person["id"],
                    "status": "ACTIVE",
                    "unitId": "dept-live",
                    "employee": {"email": "personlive1@example.com"},
                }
            }
        }
        await asyncio.to_thread(_offboard, gql, admin, person["id"])
        gone = await next_payload(company_watch)
        assert gone["data"]["employeeChanged"]["kind"] == "OFFBOARDED"
        assert gone["data"]["employeeChanged"]["status"] == "OFFBOARDED"

        # The other unit's admin saw none of that: the first change they see is in their unit.
        theirs = await asyncio.to_thread(_hire, stack, "live2", "dept-elsewhere")
        first = await next_payload(unit_watch)
        assert first["data"]["employeeChanged"]["employeeId"] == theirs["id"]
    finally:
        await company_watch.close()
        await unit_watch.close()


async def _produce_completion(stack, person_id: str) -> None:
    done = OffboardingCompleted(
        offboarding_id=f"off-{uuid.uuid4().hex[:8]}",
        person_id=person_id,
        trigger="offboarded",
        trigger_event_id=str(uuid.uuid4()),
        grants_revoked=["g1", "g2"],
        leases_ended=[],
        secrets_flagged=[],
        ownership=[],
        connector_calls=2,
        completed_at=datetime.now(UTC),
    )
    event = new_event(
        "chorus.access.offboarding.completed",
        source="/chorus/access",
        subject=person_id,
        sequence=1,
        data=done,
    )
    await produce_raw(stack.bootstrap, stack.topic(OFFBOARDING.name), [event.to_kafka()])


async def test_offboarding_completed_reaches_the_admins_of_the_leaver(stack, gql) -> None:
    admin = stack.token()
    create_unit(stack.identity.url, admin, "dept-done", name="Done")
    create_unit(stack.identity.url, admin, "dept-other", name="Other")
    leaver = await asyncio.to_thread(_hire, stack, "done1", "dept-done")
    company_watch = await gql.subscribe(COMPLETIONS, token=admin)
    other_admin = stack.token(Role.ADMIN, "dept-other", sub="other-admin")
    other_watch = await gql.subscribe(COMPLETIONS, token=other_admin)
    try:
        await asyncio.to_thread(_offboard, gql, admin, leaver["id"])
        await _produce_completion(stack, leaver["id"])
        done = await next_payload(company_watch)
        assert done["data"]["offboardingCompleted"] == {
            "personId": leaver["id"],
            "trigger": "offboarded",
            "grantsRevoked": ["g1", "g2"],
            "connectorCalls": 2,
            "person": {"email": "persondone1@example.com"},
        }
        theirs = await asyncio.to_thread(_hire, stack, "done2", "dept-other")
        await _produce_completion(stack, theirs["id"])
        first = await next_payload(other_watch)
        assert first["data"]["offboardingCompleted"]["personId"] == theirs["id"]
    finally:
        await company_watch.close()
        await other_watch.close()


async def test_a_revoked_subscriber_is_disconnected(stack, gql) -> None:
    admin = stack.token()
    watcher = await asyncio.to_thread(_hire, stack, "watcher")
    their_token = stack.token(Role.ADMIN, "company", sub=watcher["id"])
    watch = await gql.subscribe(CHANGES, token=their_token)
    try:
        await asyncio.to_thread(_offboard, gql, admin, watcher["id"])
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(20):
                while True:  # their own offboarding may arrive first; then the close
                    await watch.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    finally:
        await watch.close()


async def test_a_subscription_needs_a_valid_token(stack, gql) -> None:
    from websockets.asyncio.client import connect

    async with connect(gql.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer x"}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
