"""The attempt leases connectors (and review closings) rely on, against the real database:
one holder per turn however many try at once, dead holders overtaken, done turns kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from access.adapters.effect_claims import TurnClaims

LEASE = timedelta(seconds=30)


async def test_one_holder_per_turn_and_only_dead_holders_are_overtaken(ns, mongo) -> None:
    claims = TurnClaims(mongo[ns.database("access")]["connector_attempts"])
    await claims.prepare()
    now = datetime.now(UTC)
    taken = await asyncio.gather(
        *(
            claims.take("call-1", turn=1, holder=f"replica-{i}", now=now, lease=LEASE)
            for i in range(12)
        )
    )
    assert taken.count(1) == 1 and taken.count(None) == 11
    # While the holder's lease runs, nobody else gets the call.
    assert (
        await claims.take("call-1", turn=1, holder="late", now=now + LEASE / 2, lease=LEASE) is None
    )
    # Its holder died mid-attempt (unfinished, lease over): the next turn is taken instead.
    after = now + LEASE + timedelta(seconds=1)
    assert await claims.take("call-1", turn=1, holder="heir", now=after, lease=LEASE) == 2
    # A finished turn is never taken again, however old; the next one is free.
    await claims.finish("call-1", 2, status_code=204)
    much_later = now + timedelta(hours=1)
    assert await claims.take("call-1", turn=2, holder="x", now=much_later, lease=LEASE) is None
    assert await claims.take("call-1", turn=3, holder="x", now=much_later, lease=LEASE) == 3
    # A holder renews its lease: a long turn is not overtaken while it lives.
    await claims.renew("call-1", 3, holder="x", until=much_later + 2 * LEASE)
    assert (
        await claims.take("call-1", turn=3, holder="y", now=much_later + LEASE * 1.5, lease=LEASE)
        is None
    )
    history = await claims.turns_of("call-1")
    assert [(t["turn"], t["holder"], t["finished"]) for t in history] == [
        (1, next(f"replica-{i}" for i, t in enumerate(taken) if t == 1), False),
        (2, "heir", True),
        (3, "x", False),
    ]
    assert history[1]["status_code"] == 204
