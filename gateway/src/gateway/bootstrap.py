"""The gateway's composition root: verifier, clients, live feed, schema and the app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import strawberry
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from chorus_kit.auth import JwksCache, TokenVerifier
from chorus_kit.events.catalogue import ACCOUNT, EMPLOYEE, GRANT, OFFBOARDING, REVIEW
from chorus_kit.revocations import RevocationReader, revocations_caught_up
from chorus_kit.telemetry import configure_logging, configure_tracing
from chorus_kit.web import RARE_FULL_COLLECTIONS, background_tasks, create_app
from gateway.clients.access import AccessClient
from gateway.clients.backend import BackendClient
from gateway.clients.identity import IdentityClient
from gateway.context import Services
from gateway.limits import CostBudgets
from gateway.live import LiveFeed, LiveHub, WatchedRevocations, live_feed_positioned
from gateway.schema import build_schema
from gateway.server import graphql_router
from gateway.settings import GatewaySettings
from gateway.verification import RememberingVerifier

LIVE_TOPICS = (EMPLOYEE, OFFBOARDING, GRANT, ACCOUNT, REVIEW)
SchemaFactory = Callable[[GatewaySettings, CostBudgets], strawberry.Schema]


def _gateway_schema(settings: GatewaySettings, budgets: CostBudgets) -> strawberry.Schema:
    return build_schema(settings, budgets=budgets)


def build_app(
    settings: GatewaySettings | None = None, *, schema_factory: SchemaFactory = _gateway_schema
) -> FastAPI:
    """The gateway app; `schema_factory` swaps the schema (the bench's hello world)."""
    settings = settings or GatewaySettings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)
    hub = LiveHub()
    revocations = WatchedRevocations(hub)
    verifier = TokenVerifier(JwksCache(settings.jwks_url), revocations)
    identity_backend = BackendClient(
        "identity", settings.identity_url, timeout=settings.backend_timeout_seconds
    )
    access_backend = BackendClient(
        "access", settings.access_url, timeout=settings.backend_timeout_seconds
    )
    budgets = CostBudgets(
        capacity=settings.cost_budget_capacity, per_second=settings.cost_budget_per_second
    )
    services = Services(
        settings=settings,
        verifier=RememberingVerifier(verifier, revocations),
        identity=IdentityClient(identity_backend),
        hub=hub,
        budgets=budgets,
        access=AccessClient(access_backend),
    )
    feed = LiveFeed(
        bootstrap=settings.kafka_bootstrap,
        topics=LIVE_TOPICS,
        hub=hub,
        topic_prefix=settings.topic_prefix,
    )
    reader = RevocationReader(
        bootstrap=settings.kafka_bootstrap,
        revocations=revocations,
        topic_prefix=settings.topic_prefix,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with background_tasks(reader.run, feed.run):
                yield
        finally:
            await identity_backend.close()
            await access_backend.close()

    app = create_app(
        title="Chorus gateway",
        lifespan=lifespan,
        readiness=[revocations_caught_up(revocations), live_feed_positioned(feed)],
        # Its queries leave no reference cycles (`AcyclicExecution`, the loaders).
        full_collection_every=RARE_FULL_COLLECTIONS,
    )
    app.state.verifier = verifier
    app.state.services = services
    app.include_router(graphql_router(schema_factory(settings, budgets), services))
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            max_age=600,
        )
    return app
