"""Access's Kafka consumers: identity's employees and org units into access's own views, and
access's audit topic back into its `audit` collection (what `GET /v1/audit` serves)."""

from __future__ import annotations

from access.handlers import AccessHandlers
from access.settings import AccessSettings
from chorus_kit.audit import AuditLog
from chorus_kit.consumer import EventConsumer
from chorus_kit.events.catalogue import ACCESS_AUDIT, EMPLOYEE, ORG_UNIT
from chorus_kit.faults import FaultPoints
from chorus_kit.kafka import create_producer

SOURCE = "/chorus/access"
AUDIT_RECORDED = "chorus.access.audit.recorded"


def employee_events_consumer(settings: AccessSettings, handlers: AccessHandlers) -> EventConsumer:
    """Employee events, in access's consumer group (`access`)."""
    return EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        group=settings.consumer_group,
        topics=[EMPLOYEE],
        handlers={},
        batch_handlers=handlers.employee_event_handlers(),
        producer_factory=lambda: create_producer(settings.kafka_bootstrap, client_id="access"),
        source=SOURCE,
        topic_prefix=settings.topic_prefix,
        faults=FaultPoints(settings.faults),
    )


def org_unit_events_consumer(settings: AccessSettings, handlers: AccessHandlers) -> EventConsumer:
    """Org-unit events, in a group of their own (`access-org-units`): the `access` group's
    partition count and fault points stay those of the employee topic, which the platform's
    fault tests measure."""
    return EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        group=f"{settings.consumer_group}-org-units",
        topics=[ORG_UNIT],
        handlers={},
        batch_handlers=handlers.org_unit_event_handlers(),
        producer_factory=lambda: create_producer(
            settings.kafka_bootstrap, client_id="access-org-units"
        ),
        source=SOURCE,
        topic_prefix=settings.topic_prefix,
    )


def audit_log_consumer(settings: AccessSettings, audit: AuditLog) -> EventConsumer:
    return EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        group=f"{settings.consumer_group}-audit-log",
        topics=[ACCESS_AUDIT],
        handlers={},
        batch_handlers={AUDIT_RECORDED: audit.apply_recorded},
        producer_factory=lambda: create_producer(
            settings.kafka_bootstrap, client_id="access-audit"
        ),
        source=SOURCE,
        topic_prefix=settings.topic_prefix,
    )
