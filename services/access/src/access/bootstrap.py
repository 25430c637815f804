"""Access's composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from access.adapters.mongo_store import EmploymentView
from access.entrypoints.consumer import employee_events_consumer
from access.entrypoints.http import router
from access.handlers import AccessHandlers
from access.settings import AccessSettings
from chorus_kit.auth import JwksCache, RevocationList, TokenVerifier
from chorus_kit.events.catalogue import ACCOUNT, GRANT, OFFBOARDING, REVIEW, VAULT
from chorus_kit.kafka import topic_creator
from chorus_kit.mongo import create_client, database_reachable
from chorus_kit.revocations import RevocationReader, revocations_caught_up
from chorus_kit.telemetry import configure_logging, configure_tracing
from chorus_kit.web import background_tasks, create_app

ACCESS_TOPICS = (ACCOUNT, GRANT, VAULT, OFFBOARDING, REVIEW)


def build_app(settings: AccessSettings | None = None) -> FastAPI:
    settings = settings or AccessSettings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)
    mongo = create_client(settings)
    database = mongo[settings.database]
    revocations = RevocationList()
    handlers = AccessHandlers(employment=EmploymentView(database), root_unit=settings.root_unit)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        consumer = employee_events_consumer(settings, handlers)
        reader = RevocationReader(
            bootstrap=settings.kafka_bootstrap,
            revocations=revocations,
            topic_prefix=settings.topic_prefix,
        )

        create_topics = topic_creator(
            settings.kafka_bootstrap, ACCESS_TOPICS, prefix=settings.topic_prefix
        )

        try:
            async with background_tasks(consumer.run, reader.run, create_topics):
                yield
        finally:
            await mongo.close()

    app = create_app(
        title="Chorus access",
        lifespan=lifespan,
        readiness=[
            database_reachable(database),
            revocations_caught_up(revocations),
        ],
    )
    app.state.handlers = handlers
    app.state.verifier = TokenVerifier(JwksCache(settings.jwks_url), revocations)
    app.include_router(router)
    return app
