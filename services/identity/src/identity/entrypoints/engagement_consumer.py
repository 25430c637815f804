"""The staff programme's background work: identity's own employee events (roles, status,
unit of each certification record) and the scheduler (re-assessments, window closes)."""

from __future__ import annotations

import asyncio
import logging

from chorus_kit.consumer import EventConsumer
from chorus_kit.events.catalogue import CATALOGUE, EMPLOYEE
from chorus_kit.faults import FaultPoints
from chorus_kit.kafka import create_producer
from identity.engagement_handlers import EngagementHandlers
from identity.settings import IdentitySettings

SOURCE = "/chorus/identity"
GROUP = "identity-certification"
log = logging.getLogger(__name__)


def employee_events_consumer(
    handlers: EngagementHandlers, settings: IdentitySettings
) -> EventConsumer:
    """Every employee event carries the full snapshot, so one handler serves them all."""
    employee_types = [kind.type for kind in CATALOGUE.values() if kind.topic == EMPLOYEE]
    return EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        group=GROUP,
        topics=[EMPLOYEE],
        handlers={},
        batch_handlers={kind: handlers.apply_employee_events for kind in employee_types},
        producer_factory=lambda: create_producer(settings.kafka_bootstrap, client_id=GROUP),
        source=SOURCE,
        topic_prefix=settings.topic_prefix,
        faults=FaultPoints(settings.faults),
    )


async def run_programme_scheduler(handlers: EngagementHandlers, interval: float) -> None:
    """On every replica (each write is conditional on the aggregate's sequence, so a second
    replica's attempt changes nothing)."""
    while True:
        try:
            await handlers.run_due_work()
        except Exception:  # the database away: the next tick tries again, nothing is lost
            log.exception("staff programme scheduler failed this tick")
        await asyncio.sleep(interval)
