"""Access's composition root: clients, stores, handlers, relay, consumers, schedulers, the app.

What other parts of access reach through `app.state` (set before the app serves):
`handlers` (the mirrors), `accounts` (AccountHandlers), `grants` (GrantHandlers, incl.
`active_grant` for the vault and `end_grant` for the leaver flow), `reports`,
`grant_store` (GrantStore), `audit` (AuditLog), `relay` (OutboxRelay), `units`
(OrgUnitView), `employment` (EmploymentView), `database`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from pymongo.asynchronous.collection import AsyncCollection

from access.adapters.account_store import AccountStore
from access.adapters.alert_store import AlertStore
from access.adapters.grant_store import GrantStore
from access.adapters.mongo_store import EmploymentView, OrgUnitView
from access.adapters.offboarding_store import OffboardingStore
from access.adapters.request_store import RequestStore
from access.adapters.review_store import ReviewStore
from access.entrypoints.connector_jobs import build_connectors, connector_events_consumer
from access.entrypoints.connectors_http import router as connectors_router
from access.entrypoints.consumer import (
    AUDIT_RECORDED,
    SOURCE,
    audit_log_consumer,
    employee_events_consumer,
    org_unit_events_consumer,
)
from access.entrypoints.http import router
from access.entrypoints.offboarding_consumer import build_offboarding, leaver_events_consumer
from access.entrypoints.review_jobs import build_reviews
from access.entrypoints.reviews_http import router as reviews_router
from access.entrypoints.vault_http import router as vault_router
from access.entrypoints.vault_jobs import build_vault, vault_grant_consumer
from access.handlers import (
    AccessHandlers,
    AccountHandlers,
    GrantEffects,
    GrantHandlers,
    Reads,
    ReportHandlers,
    replica_name,
)
from access.settings import AccessSettings
from chorus_kit.audit import AuditLog
from chorus_kit.auth import JwksCache, RevocationList, TokenVerifier
from chorus_kit.events.catalogue import (
    ACCESS_AUDIT,
    ACCOUNT,
    GRANT,
    OFFBOARDING,
    PLATFORM_ALERT,
    REVIEW,
    VAULT,
)
from chorus_kit.events.envelope import Event
from chorus_kit.faults import FaultPoints
from chorus_kit.kafka import create_producer, topic_creator
from chorus_kit.mongo import create_client, database_reachable
from chorus_kit.outbox import OutboxRelay
from chorus_kit.revocations import RevocationReader, revocations_caught_up
from chorus_kit.telemetry import configure_logging, configure_tracing
from chorus_kit.web import RARE_FULL_COLLECTIONS, background_tasks, create_app

ACCESS_TOPICS = (ACCOUNT, GRANT, VAULT, OFFBOARDING, REVIEW, ACCESS_AUDIT, PLATFORM_ALERT)
log = logging.getLogger(__name__)


def every(
    seconds: float, tick: Callable[[], Awaitable[object]], *, what: str
) -> Callable[[], Awaitable[None]]:
    """A background loop running `tick` every `seconds`; a failed tick (the database away)
    is logged and tried again next time: the work it looks for is stored, not lost."""

    async def loop() -> None:
        while True:
            try:
                await tick()
            except Exception:
                log.exception("%s failed this tick", what)
            await asyncio.sleep(seconds)

    return loop


def build_app(settings: AccessSettings | None = None) -> FastAPI:
    settings = settings or AccessSettings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)
    mongo = create_client(settings)
    database = mongo[settings.database]
    revocations = RevocationList()

    employment = EmploymentView(database)
    units = OrgUnitView(
        database, root_id=settings.root_unit, cache_seconds=settings.unit_tree_cache_seconds
    )
    accounts = AccountStore(database)
    grant_store = GrantStore(database)
    requests = RequestStore(database)
    alerts = AlertStore(database)

    def events_written(
        collection: AsyncCollection[dict[str, Any]], doc_id: Any, events: Sequence[Event]
    ) -> None:
        relay.notify(collection, doc_id, events)

    def carrier_written(
        collection: AsyncCollection[dict[str, Any]], doc_id: Any, events: Sequence[Event]
    ) -> None:
        relay.notify(collection, doc_id, events, carried=True)

    audit = AuditLog(
        database, event_type=AUDIT_RECORDED, source=SOURCE, events_written=events_written
    )
    vault = build_vault(
        database,
        settings,
        grants=grant_store,
        units=units,
        events_written=events_written,
        audit_log=audit,
    )
    # Every collection whose documents carry an outbox (add the vault's here).
    # Revocation connectors (calls to the networks) and access reviews.
    connectors = build_connectors(
        database,
        settings,
        accounts=accounts,
        units=units,
        envelope=vault.envelope,
        events_written=events_written,
        replica=replica_name(),
    )
    review_store = ReviewStore(database)
    offboarding_store = OffboardingStore(database, claims=grant_store.claims)
    outbox_collections = [
        accounts.collection,
        grant_store.collection,
        requests.collection,
        alerts.collection,
        audit.outbox,
        *vault.collections,
        *connectors.collections,
        review_store.reviews,
        review_store.items,
        offboarding_store.completions,
    ]
    relay = OutboxRelay(
        collections=outbox_collections,
        leases=database["relay_leases"],
        producer_factory=lambda: create_producer(
            settings.kafka_bootstrap, client_id="access-relay"
        ),
        topic_prefix=settings.topic_prefix,
        sweep_seconds=settings.outbox_sweep_seconds,
        faults=FaultPoints(settings.faults),
    )

    mirrors = AccessHandlers(employment=employment, units=units, root_unit=settings.root_unit)
    reads = Reads(accounts=accounts, grants=grant_store, employment=employment, units=units)
    effects = GrantEffects(grants=grant_store, events_written=events_written)
    account_handlers = AccountHandlers(
        reads=reads,
        effects=effects,
        policies=settings.account_policies,
        events_written=events_written,
    )
    grant_handlers = GrantHandlers(
        reads=reads,
        requests=requests,
        effects=effects,
        owners=account_handlers,
        events_written=events_written,
        expiring_lead=timedelta(seconds=settings.grant_expiring_lead_seconds),
        claim_stale_after=timedelta(seconds=settings.claim_stale_seconds),
        resync_every=timedelta(seconds=settings.scheduler_resync_seconds),
    )
    report_handlers = ReportHandlers(
        reads=reads,
        alerts=alerts,
        audit=audit,
        events_written=events_written,
        alert_grace=timedelta(seconds=settings.former_staff_alert_grace_seconds),
        pending_connector_revocations=connectors.pending_connector_revocations,
    )
    reviews = build_reviews(
        review_store,
        settings,
        units=units,
        grants=grant_handlers,
        accounts=account_handlers,
        events_written=events_written,
        replica=replica_name(),
    )
    # The leaver flow: offboarded / suspended / moved, in a consumer group of its own.
    offboarding = build_offboarding(
        offboarding_store,
        grants=grant_store,
        ownerships=account_handlers,
        employment=employment,
        vault=vault,
        mirrors=mirrors,
        events_written=events_written,
        carrier_written=carrier_written,
        faults=settings.faults,
        replica=replica_name(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for store in (accounts, grant_store, requests, alerts, audit, vault, connectors, reviews):
            await store.prepare()
        await offboarding.prepare()
        reader = RevocationReader(
            bootstrap=settings.kafka_bootstrap,
            revocations=revocations,
            topic_prefix=settings.topic_prefix,
        )
        create_topics = topic_creator(
            settings.kafka_bootstrap, ACCESS_TOPICS, prefix=settings.topic_prefix
        )
        # Expiries and the former-staff check run on every replica: each effect is claimed
        # and written conditionally, each alert inserted under its situation's id, so a
        # second replica's attempt changes nothing. Worst-case expiry lateness: one
        # `scheduler_interval_seconds` plus one write.
        grant_scheduler = every(
            settings.scheduler_interval_seconds, grant_handlers.run_schedule, what="grant schedule"
        )
        former_staff_checker = every(
            settings.former_staff_check_seconds,
            report_handlers.check_former_staff,
            what="former-staff check",
        )
        try:
            async with background_tasks(
                relay.run,
                relay.report_backlog,
                reader.run,
                create_topics,
                employee_events_consumer(settings, mirrors).run,
                leaver_events_consumer(settings, offboarding, mirrors).run,
                org_unit_events_consumer(settings, mirrors).run,
                audit_log_consumer(settings, audit).run,
                grant_scheduler,
                former_staff_checker,
                every(settings.vault_tick_seconds, vault.tick, what="vault tick"),
                vault_grant_consumer(settings, vault).run,
                connectors.run_worker,
                connector_events_consumer(settings, connectors).run,
                every(settings.review_tick_seconds, reviews.run_schedule, what="review schedule"),
            ):
                yield
        finally:
            await connectors.client.close()
            await mongo.close()

    app = create_app(
        title="Chorus access",
        lifespan=lifespan,
        readiness=[
            database_reachable(database),
            revocations_caught_up(revocations),
        ],
        full_collection_every=RARE_FULL_COLLECTIONS,
    )
    app.state.handlers = mirrors
    app.state.accounts = account_handlers
    app.state.grants = grant_handlers
    app.state.reports = report_handlers
    app.state.grant_store = grant_store
    app.state.audit = audit
    app.state.relay = relay
    app.state.units = units
    app.state.employment = employment
    app.state.database = database
    app.state.vault = vault
    app.state.connectors = connectors
    app.state.reviews = reviews
    app.state.offboarding = offboarding
    app.state.verifier = TokenVerifier(JwksCache(settings.jwks_url), revocations)
    app.include_router(router)
    app.include_router(vault_router)
    app.include_router(connectors_router)
    app.include_router(reviews_router)
    return app


__all__ = ["ACCESS_TOPICS", "build_app", "every"]
