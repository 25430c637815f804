"""Identity's composition root: builds clients, stores, handlers, relay and the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from chorus_kit.audit import AuditLog
from chorus_kit.auth import (
    RevocationList,
    SigningKey,
    StaticKeys,
    TokenVerifier,
    load_or_create_dev_key,
)
from chorus_kit.consumer import EventConsumer
from chorus_kit.events.catalogue import (
    EMPLOYEE,
    IDENTITY_AUDIT,
    IDENTITY_AUDIT_RECORDED,
    ORG_UNIT,
    POLICY,
    SESSION,
)
from chorus_kit.faults import FaultPoints
from chorus_kit.kafka import create_producer, topic_creator
from chorus_kit.mongo import create_client, database_reachable
from chorus_kit.outbox import OutboxRelay
from chorus_kit.revocations import RevocationReader, revocations_caught_up
from chorus_kit.telemetry import configure_logging, configure_tracing
from chorus_kit.web import background_tasks, create_app
from identity.adapters.mongo_store import EmployeeStore, OrgUnitStore
from identity.entrypoints.http import router
from identity.handlers import IdentityHandlers
from identity.settings import IdentitySettings

IDENTITY_TOPICS = (EMPLOYEE, ORG_UNIT, POLICY, SESSION, IDENTITY_AUDIT)
SOURCE = "/chorus/identity"
log = logging.getLogger(__name__)


async def run_offboarding_scheduler(handlers: IdentityHandlers, interval: float) -> None:
    """Offboardings scheduled for a date run here, on every replica (the version check makes
    a second replica's attempt a no-op). Worst-case lateness: one interval plus a write."""
    while True:
        try:
            await handlers.run_due_offboardings()
        except Exception:  # the database away: try again next tick, the schedule is stored
            log.exception("scheduled offboardings failed this tick")
        await asyncio.sleep(interval)


def signing_key(settings: IdentitySettings) -> SigningKey:
    if settings.signing_key_file is None:
        return load_or_create_dev_key(settings.dev_signing_key_file)
    loaded = serialization.load_pem_private_key(settings.signing_key_file.read_bytes(), None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError("the signing key must be an EC P-256 private key")
    return SigningKey(kid=Path(settings.signing_key_file).stem, private_key=loaded)


def build_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)
    mongo = create_client(settings)
    database = mongo[settings.database]
    employees = EmployeeStore(database)
    units = OrgUnitStore(database)
    key = signing_key(settings)
    revocations = RevocationList()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await employees.prepare()
        await units.prepare()
        audit = AuditLog(
            database,
            event_type=IDENTITY_AUDIT_RECORDED.type,
            source=SOURCE,
            events_written=lambda collection, doc_id, events: relay.notify(
                collection, doc_id, events
            ),
        )
        await audit.prepare()
        relay = OutboxRelay(
            collections=[employees.collection, units.collection, audit.outbox],
            leases=database["relay_leases"],
            producer_factory=lambda: create_producer(
                settings.kafka_bootstrap, client_id="identity-relay"
            ),
            topic_prefix=settings.topic_prefix,
            sweep_seconds=settings.outbox_sweep_seconds,
            faults=FaultPoints(settings.faults),
        )
        collections = {id(employees): employees.collection, id(units): units.collection}
        handlers = IdentityHandlers(
            employees=employees,
            units=units,
            events_written=lambda repository, doc_id, events: relay.notify(
                collections[id(repository)], doc_id, events
            ),
        )
        await handlers.ensure_root_unit(settings.root_unit, name=settings.root_unit_name)
        app.state.handlers = handlers
        app.state.audit = audit
        audit_reader = EventConsumer(
            bootstrap=settings.kafka_bootstrap,
            group="identity-audit-log",
            topics=[IDENTITY_AUDIT],
            handlers={},
            batch_handlers={IDENTITY_AUDIT_RECORDED.type: audit.apply_recorded},
            producer_factory=lambda: create_producer(
                settings.kafka_bootstrap, client_id="identity-audit"
            ),
            source=SOURCE,
            topic_prefix=settings.topic_prefix,
            faults=FaultPoints(settings.faults),
        )

        async def scheduler() -> None:
            await run_offboarding_scheduler(handlers, settings.scheduler_interval_seconds)

        try:
            reader = RevocationReader(
                bootstrap=settings.kafka_bootstrap,
                revocations=revocations,
                topic_prefix=settings.topic_prefix,
            )

            create_topics = topic_creator(
                settings.kafka_bootstrap, IDENTITY_TOPICS, prefix=settings.topic_prefix
            )

            async with background_tasks(
                relay.run,
                relay.report_backlog,
                reader.run,
                create_topics,
                audit_reader.run,
                scheduler,
            ):
                yield
        finally:
            await mongo.close()

    app = create_app(
        title="Chorus identity",
        lifespan=lifespan,
        readiness=[
            database_reachable(database),
            revocations_caught_up(revocations),
        ],
    )
    app.state.signing_key = key
    # Identity verifies its own tokens from its own key, never over HTTP to itself.
    app.state.verifier = TokenVerifier(StaticKeys([key.public_jwk()]), revocations)
    app.include_router(router)
    return app
