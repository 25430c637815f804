"""Access's Kafka consumer: identity's employee events into access's own view."""

from __future__ import annotations

from access.handlers import AccessHandlers
from access.settings import AccessSettings
from chorus_kit.consumer import EventConsumer
from chorus_kit.events.catalogue import EMPLOYEE
from chorus_kit.faults import FaultPoints
from chorus_kit.kafka import create_producer


def employee_events_consumer(settings: AccessSettings, handlers: AccessHandlers) -> EventConsumer:
    return EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        group=settings.consumer_group,
        topics=[EMPLOYEE],
        handlers={},
        batch_handlers=handlers.event_handlers(),
        producer_factory=lambda: create_producer(settings.kafka_bootstrap, client_id="access"),
        source="/chorus/access",
        topic_prefix=settings.topic_prefix,
        faults=FaultPoints(settings.faults),
    )
