"""A subscription's events: what the live hub delivers, until the session ends.

The subscription closes its connection when the subscriber's session is revoked (code
4403) or their token expires (4401, the client reconnects with a fresh token), and
drops a subscriber who cannot keep up (4429).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

from chorus_kit.events.envelope import Event
from gateway.context import Context
from gateway.live import SubscriptionEnded


async def live_events(context: Context, types: Iterable[str]) -> AsyncIterator[Event]:
    viewer = context.viewer
    hub = context.services.hub
    subscription = hub.subscribe(viewer, types)
    try:
        while True:
            try:
                async with asyncio.timeout(_seconds_left(context.expires_at)):
                    event = await subscription.next()
            except SubscriptionEnded as ended:
                await _close(context, ended.close_code, ended.reason)
                return
            except TimeoutError:
                await _close(context, 4401, "token expired")
                return
            context.fresh_loaders()  # each event is answered with what is true now
            yield event
    finally:
        hub.unsubscribe(subscription)


def _seconds_left(expires_at: datetime | None) -> float | None:
    if expires_at is None:
        return None
    return max((expires_at - datetime.now(UTC)).total_seconds(), 0.0)


async def _close(context: Context, code: int, reason: str) -> None:
    if context.websocket is not None:
        with contextlib.suppress(RuntimeError):  # already closing
            await context.websocket.close(code=code, reason=reason)
