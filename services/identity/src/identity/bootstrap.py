"""Identity's composition root: builds clients, stores, handlers, relay and the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from chorus_kit.auth import (
    RevocationList,
    SigningKey,
    StaticKeys,
    TokenVerifier,
    load_or_create_dev_key,
)
from chorus_kit.events.catalogue import EMPLOYEE, IDENTITY_AUDIT, ORG_UNIT, POLICY, SESSION
from chorus_kit.faults import FaultPoints
from chorus_kit.kafka import create_producer, topic_creator
from chorus_kit.mongo import create_client, database_reachable
from chorus_kit.outbox import OutboxRelay
from chorus_kit.revocations import RevocationReader, revocations_caught_up
from chorus_kit.telemetry import configure_logging, configure_tracing
from chorus_kit.web import background_tasks, create_app
from identity.adapters.mongo_store import EmployeeStore
from identity.entrypoints.http import router
from identity.handlers import IdentityHandlers
from identity.settings import IdentitySettings

IDENTITY_TOPICS = (EMPLOYEE, ORG_UNIT, POLICY, SESSION, IDENTITY_AUDIT)


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
    key = signing_key(settings)
    revocations = RevocationList()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await employees.prepare()
        relay = OutboxRelay(
            collections=[employees.collection],
            leases=database["relay_leases"],
            producer_factory=lambda: create_producer(
                settings.kafka_bootstrap, client_id="identity-relay"
            ),
            topic_prefix=settings.topic_prefix,
            sweep_seconds=settings.outbox_sweep_seconds,
            faults=FaultPoints(settings.faults),
        )
        app.state.handlers = IdentityHandlers(
            employees=employees,
            root_unit=settings.root_unit,
            events_written=lambda employee_id, events: relay.notify(
                employees.collection, employee_id, events
            ),
        )
        try:
            reader = RevocationReader(
                bootstrap=settings.kafka_bootstrap,
                revocations=revocations,
                topic_prefix=settings.topic_prefix,
            )

            create_topics = topic_creator(
                settings.kafka_bootstrap, IDENTITY_TOPICS, prefix=settings.topic_prefix
            )

            async with background_tasks(relay.run, relay.report_backlog, reader.run, create_topics):
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
