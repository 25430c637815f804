"""The vault's parts for the composition root, and the grant events it reacts to.

The vault's scheduler is `VaultHandlers.tick`, run by bootstrap every `vault_tick_seconds`
on every replica (each effect is a conditional write, so a second replica's attempt changes
nothing): worst-case lateness of a lease's end or a max-age flag is one interval plus a write.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from access.adapters.vault_crypto import Envelope, key_encryption_service
from access.adapters.vault_directory import AccountDirectory
from access.adapters.vault_store import LeaseStore, SecretStore
from access.vault_handlers import (
    GRANT_EXPIRED,
    GRANT_REVOKED,
    EventsWritten,
    GrantChecker,
    UnitTreeSource,
    VaultHandlers,
)
from access.vault_settings import VaultSettings
from chorus_kit.audit import AuditLog
from chorus_kit.consumer import EventConsumer
from chorus_kit.events.catalogue import ACCESS_EVENTS, GRANT
from chorus_kit.faults import FaultPoints
from chorus_kit.kafka import create_producer
from chorus_kit.settings import ServiceSettings

log = logging.getLogger(__name__)


def build_vault(
    database: AsyncDatabase[dict[str, Any]],
    settings: VaultSettings,
    *,
    grants: GrantChecker,
    units: UnitTreeSource,
    events_written: EventsWritten,
    audit_log: AuditLog | None = None,
) -> VaultHandlers:
    """The vault's stores and handlers; refuses to build without a usable master key."""
    return VaultHandlers(
        secrets=SecretStore(database),
        leases=LeaseStore(database),
        directory=AccountDirectory(database),
        grants=grants,
        units=units,
        envelope=Envelope(key_encryption_service(settings)),
        events_written=events_written,
        audit_log=audit_log,
    )


def vault_grant_consumer(settings: ServiceSettings, vault: VaultHandlers) -> EventConsumer:
    """Grants that end (revoked or expired) end their holder's leases and flag rotation."""
    grant_types = [t.type for t in ACCESS_EVENTS if t.topic is GRANT]
    return EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        group="access-vault",
        topics=[GRANT],
        handlers={},
        batch_handlers={GRANT_REVOKED: vault.on_grant_ended, GRANT_EXPIRED: vault.on_grant_ended},
        ignore_types=[t for t in grant_types if t not in (GRANT_REVOKED, GRANT_EXPIRED)],
        producer_factory=lambda: create_producer(
            settings.kafka_bootstrap, client_id="access-vault"
        ),
        source="/chorus/access",
        topic_prefix=settings.topic_prefix,
        faults=FaultPoints(settings.faults),
    )
