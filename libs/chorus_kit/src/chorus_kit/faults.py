"""Named fault points the fault tests use to stop a process inside a precise window.

`CHORUS_FAULTS=relay.before_publish` makes the relay hang right before it publishes, so a
test can prove the window was hit and then SIGKILL the process. Refused in production.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

KNOWN_POINTS = frozenset(
    {
        "relay.before_publish",  # events committed in the database, not yet sent to Kafka
        "relay.after_publish",  # events acknowledged by Kafka, not yet marked as sent
        "consumer.after_apply",  # effect applied, offset not yet committed
        "offboarding.before_effects",  # access: a departure in the mirror, nothing ended yet
        "offboarding.mid_effects",  # access: a leaver's grants ended, the rest not yet done
    }
)


class FaultPoints:
    def __init__(self, spec: str) -> None:
        names = {p.strip() for p in spec.split(",") if p.strip()}
        unknown = names - KNOWN_POINTS
        if unknown:
            raise ValueError(f"unknown fault points: {sorted(unknown)}")
        self._armed = names

    async def reach(self, point: str) -> None:
        """Hang forever at an armed point (the test kills the process); no-op otherwise."""
        if point in self._armed:
            log.warning("fault point reached, hanging", extra={"fault_point": point})
            await asyncio.Event().wait()


NO_FAULTS = FaultPoints("")
