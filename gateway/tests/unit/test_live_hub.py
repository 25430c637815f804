"""The live hub: a revoked subscriber's stream ends even while it waits for an event."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from chorus_kit.auth import Principal
from chorus_kit.events.identity import Role, RoleAssignment
from gateway.live import LiveHub, SubscriptionEnded, WatchedRevocations


def _principal(sub: str) -> Principal:
    return Principal(
        sub=sub,
        roles=(RoleAssignment(role=Role.ADMIN, unit="company"),),
        issued_at=datetime.now(UTC) - timedelta(seconds=5),
        token_id="t",
    )


async def test_revocation_wakes_a_waiting_subscriber() -> None:
    hub = LiveHub()
    revocations = WatchedRevocations(hub)
    mine = hub.subscribe(_principal("ann"), {"x"})
    other = hub.subscribe(_principal("bob"), {"x"})
    waiting = asyncio.ensure_future(mine.next())
    await asyncio.sleep(0)  # it is waiting now
    revocations.revoke("ann", issued_before=datetime.now(UTC))
    with pytest.raises(SubscriptionEnded) as ended:
        await asyncio.wait_for(waiting, 1)
    assert ended.value.close_code == 4403
    assert len(hub) == 1 and other.queue.empty()
