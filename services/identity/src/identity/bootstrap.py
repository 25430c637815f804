"""Identity's composition root: builds clients, stores, handlers, relay and the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chorus_kit.audit import AuditLog
from chorus_kit.auth import RevocationList, TokenVerifier
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
from chorus_kit.web import RARE_FULL_COLLECTIONS, background_tasks, create_app
from identity.adapters.directory_feed import DirectoryFeed, ReadThroughEmployees
from identity.adapters.engagement_stores import EngagementStores
from identity.adapters.mongo_store import EmployeeStore, OrgUnitStore
from identity.adapters.scim_store import ProvisioningClientStore, ScimDirectory
from identity.engagement_handlers import EngagementHandlers
from identity.entrypoints.auth_http import include_sign_in
from identity.entrypoints.engagement_consumer import (
    employee_events_consumer,
    run_programme_scheduler,
)
from identity.entrypoints.engagement_http import router as engagement_router
from identity.entrypoints.http import router
from identity.entrypoints.scim import router as scim_router
from identity.handlers import IdentityHandlers
from identity.scim_handlers import ScimHandlers
from identity.session_wiring import SignInParts
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


def build_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)
    mongo = create_client(settings)
    database = mongo[settings.database]
    employees = EmployeeStore(database)
    units = OrgUnitStore(database)
    provisioning_clients = ProvisioningClientStore(database)
    engagement_stores = EngagementStores.of(database)
    sign_in = SignInParts(settings, database)  # sessions, passwords, OIDC, the key ring
    revocations = RevocationList()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await employees.prepare()
        await units.prepare()
        await provisioning_clients.prepare()
        await engagement_stores.prepare()
        await sign_in.prepare()
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
            collections=[
                employees.collection,
                units.collection,
                audit.outbox,
                provisioning_clients.collection,
                *engagement_stores.outbox_collections,
                *sign_in.outbox_collections,
            ],
            leases=database["relay_leases"],
            producer_factory=lambda: create_producer(
                settings.kafka_bootstrap, client_id="identity-relay"
            ),
            topic_prefix=settings.topic_prefix,
            sweep_seconds=settings.outbox_sweep_seconds,
            faults=FaultPoints(settings.faults),
        )
        directory = DirectoryFeed(
            employees, bootstrap=settings.kafka_bootstrap, topic_prefix=settings.topic_prefix
        )
        staff = ReadThroughEmployees(
            directory, due_rescan_seconds=settings.due_offboardings_rescan_seconds
        )
        collections = {id(staff): employees.collection, id(units): units.collection}
        handlers = IdentityHandlers(
            employees=staff,
            units=units,
            events_written=lambda repository, doc_id, events: relay.notify(
                collections[id(repository)], doc_id, events
            ),
        )
        await handlers.ensure_root_unit(settings.root_unit, name=settings.root_unit_name)
        app.state.handlers = handlers
        app.state.audit = audit
        app.state.scim = ScimHandlers(
            identity=handlers,
            clients=provisioning_clients,
            directory=ScimDirectory(employees, units),
            client_events_written=lambda doc_id, events: relay.notify(
                provisioning_clients.collection, doc_id, events
            ),
        )
        session_handlers = sign_in.handlers(
            employees=employees,
            units=units,
            revocations=revocations,
            audit=audit,
            credential_events_written=lambda doc_id, events: relay.notify(
                sign_in.credentials.collection, doc_id, events
            ),
        )
        app.state.session_handlers = session_handlers
        engagement = EngagementHandlers(
            policies=engagement_stores.policies,
            modules=engagement_stores.modules,
            certifications=engagement_stores.certifications,
            surveys=engagement_stores.surveys,
            nominations=engagement_stores.nominations,
            employees=employees,
            units=units,
            events_written=lambda store, doc_id, events: relay.notify(
                engagement_stores.collection_of(store), doc_id, events
            ),
        )
        app.state.engagement = engagement
        certification_consumer = employee_events_consumer(engagement, settings)

        async def programme_scheduler() -> None:
            await run_programme_scheduler(engagement, settings.scheduler_interval_seconds)

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
                directory.run,
                create_topics,
                audit_reader.run,
                scheduler,
                certification_consumer.run,
                programme_scheduler,
                *sign_in.loops(session_handlers),
            ):
                yield
        finally:
            await sign_in.close()
            await mongo.close()

    app = create_app(
        title="Chorus identity",
        lifespan=lifespan,
        readiness=[
            database_reachable(database),
            revocations_caught_up(revocations),
        ],
        full_collection_every=RARE_FULL_COLLECTIONS,
    )
    app.state.key_ring = sign_in.key_ring
    app.state.trusted_proxies = sign_in.trusted_proxies
    # Identity verifies its own tokens from its own key ring, never over HTTP to itself.
    app.state.verifier = TokenVerifier(sign_in.key_ring, revocations)
    app.include_router(router)
    include_sign_in(app)
    app.include_router(engagement_router)
    app.include_router(scim_router)
    return app
