"""Reads `chorus.identity.session.v1` from the start, in every verifier replica.

Not a consumer group: each replica must see every revocation, so each one assigns itself
all partitions and reads from offset 0 (the topic is compacted, keyed by person, so "from
the start" stays short). A replica is ready only once it has read up to the end offsets
that were current when it started; from then on a revocation reaches it within a fetch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from chorus_kit.auth import RevocationList
from chorus_kit.events.catalogue import SESSION, SESSIONS_REVOKED
from chorus_kit.events.envelope import Event
from chorus_kit.events.identity import SessionsRevoked
from chorus_kit.follower import TopicFollower


class RevocationReader:
    def __init__(
        self, *, bootstrap: str, revocations: RevocationList, topic_prefix: str = ""
    ) -> None:
        self._revocations = revocations
        revocations.caught_up = False
        self._follower = TopicFollower(
            bootstrap=bootstrap,
            topic=SESSION,
            topic_prefix=topic_prefix,
            from_beginning=True,
            on_events=self._apply,
            on_caught_up=self._caught_up,
            fetch_max_wait_ms=100,  # a revocation is honoured within a second, not a poll
        )

    async def run(self) -> None:
        await self._follower.run()

    async def _apply(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.type == SESSIONS_REVOKED.type:
                revoked = event.data_as(SessionsRevoked)
                self._revocations.revoke(revoked.person_id, issued_before=revoked.revoked_before)

    def _caught_up(self) -> None:
        self._revocations.caught_up = True


def revocations_caught_up(revocations: RevocationList) -> Callable[[], Awaitable[None]]:
    """Readiness check: a replica that has not read every revocation yet is not ready."""

    async def check() -> None:
        if not revocations.caught_up:
            raise RuntimeError("session revocations not caught up")

    return check
