"""Connectors' background edges: the events that make calls, and building the handlers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from access.adapters.account_store import AccountStore
from access.adapters.connector_client import WebhookClient
from access.adapters.connector_store import ConnectorCallStore, ConnectorConfigStore
from access.adapters.mongo_store import OrgUnitView
from access.adapters.vault_crypto import Envelope
from access.connector_handlers import (
    GRANT_EXPIRED,
    GRANT_REVOKED,
    ROTATION_REQUIRED,
    ConnectorHandlers,
    EventsWritten,
)
from access.connector_settings import ConnectorSettings
from chorus_kit.consumer import EventConsumer
from chorus_kit.events.catalogue import ACCESS_EVENTS, GRANT, VAULT
from chorus_kit.faults import FaultPoints
from chorus_kit.kafka import create_producer
from chorus_kit.settings import ServiceSettings

CONSUMER_GROUP = "access-connectors"


def build_connectors(
    database: AsyncDatabase[dict[str, Any]],
    settings: ConnectorSettings,
    *,
    accounts: AccountStore,
    units: OrgUnitView,
    envelope: Envelope,
    events_written: EventsWritten,
    replica: str,
) -> ConnectorHandlers:
    return ConnectorHandlers(
        configs=ConnectorConfigStore(database),
        calls=ConnectorCallStore(database),
        accounts=accounts,
        units=units,
        envelope=envelope,
        client=WebhookClient(timeout_seconds=settings.connector_timeout_seconds),
        events_written=events_written,
        policy=settings.connector_retry_policy(),
        require_https=bool(settings.connector_require_https),
        lease=timedelta(seconds=settings.connector_lease_seconds),
        tick_seconds=settings.connector_tick_seconds,
        concurrency=settings.connector_concurrency,
        replica=replica,
    )


def connector_events_consumer(
    settings: ServiceSettings, connectors: ConnectorHandlers
) -> EventConsumer:
    """Grants that end and credentials that must rotate, in a group of its own."""
    wanted = (GRANT_REVOKED, GRANT_EXPIRED, ROTATION_REQUIRED)
    others = [t.type for t in ACCESS_EVENTS if t.topic in (GRANT, VAULT) and t.type not in wanted]
    return EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        group=CONSUMER_GROUP,
        topics=[GRANT, VAULT],
        handlers={},
        batch_handlers=connectors.event_handlers(),
        ignore_types=others,
        producer_factory=lambda: create_producer(
            settings.kafka_bootstrap, client_id="access-connectors"
        ),
        source="/chorus/access",
        topic_prefix=settings.topic_prefix,
        faults=FaultPoints(settings.faults),
    )
