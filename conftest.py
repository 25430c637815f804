"""Test fixtures shared by every test directory: a real Kafka and a real MongoDB-wire server.

Where they come from, in order: `CHORUS_KAFKA_BOOTSTRAP` / `CHORUS_MONGODB_URI` when set;
testcontainers when a Docker engine answers; otherwise a local Kafka 3.9.1 and FerretDB
started once per session under var/test-infra (installed on first use). Each test gets its
own database names and topic prefix, so tests never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

import gateway  # noqa: F401 - first: pytest would make gateway/tests' parent `gateway` a namespace
from chorus_kit.auth import SigningKey, load_or_create_dev_key
from chorus_kit.events.identity import Role, RoleAssignment
from chorus_local.infra import FerretDB, InfraLayout, KafkaBroker, free_port
from chorus_local.services import SERVICES, ServiceProcess
from tests.support.schema_watch import SchemaWatch

REPO = Path(__file__).resolve().parent


@dataclass
class Infra:
    bootstrap: str
    mongo_uri: str
    kafka: KafkaBroker | None = None  # set when this session owns the broker (fault tests)
    ferretdb: FerretDB | None = None


def _docker_engine_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    bootstrap = os.environ.get("CHORUS_KAFKA_BOOTSTRAP")
    mongo_uri = os.environ.get("CHORUS_MONGODB_URI")
    if bootstrap and mongo_uri:
        yield Infra(bootstrap, mongo_uri)
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]
        from testcontainers.mongodb import MongoDbContainer  # type: ignore[import-untyped]

        with (
            KafkaContainer("confluentinc/cp-kafka:7.9.1").with_kraft() as kafka,
            MongoDbContainer("mongo:7.0") as mongo,
        ):
            yield Infra(kafka.get_bootstrap_server(), mongo.get_connection_url())
        return
    layout = InfraLayout.ephemeral(REPO, "test-infra")
    kafka = KafkaBroker(layout, print)
    ferretdb = FerretDB(layout, print)
    ferretdb.start()
    kafka.start()
    try:
        yield Infra(kafka.bootstrap, ferretdb.uri, kafka=kafka, ferretdb=ferretdb)
    finally:
        kafka.stop()
        ferretdb.stop()
        shutil.rmtree(layout.root, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def schema_watch(infra: Infra) -> Iterator[SchemaWatch]:
    """Validates every message on every Chorus topic of the session against its schema."""
    watch = SchemaWatch(infra.bootstrap)
    watch.start()
    yield watch
    failures = watch.finish()
    assert not failures, "messages that violate their schema:\n" + "\n".join(failures[:20])


@dataclass
class Namespace:
    """One test's slice of the shared broker and database server."""

    id: str
    infra: Infra
    tmp: Path
    services: list[ServiceProcess] = field(default_factory=list)

    @property
    def topic_prefix(self) -> str:
        return f"{self.id}."

    def database(self, service: str) -> str:
        return f"{self.id}_{service}"

    def topic(self, logical: str) -> str:
        return f"{self.topic_prefix}{logical}"

    @property
    def signing_key_file(self) -> Path:
        return self.tmp / "jwt-signing-key.pem"

    def signing_key(self) -> SigningKey:
        return load_or_create_dev_key(self.signing_key_file)

    def token(self, role: Role = Role.ADMIN, unit: str = "company", sub: str = "test-admin") -> str:
        return self.signing_key().mint(sub, [RoleAssignment(role=role, unit=unit)])

    def service(
        self, name: str, *, instance: str = "", faults: str = "", **env: str
    ) -> ServiceProcess:
        """A service process in this namespace (not started); stopped at the test's end."""
        spec = next(s for s in SERVICES if s.name == name)
        identity = next((s for s in self.services if s.spec.name == "identity"), None)
        jwks = f"{identity.url}/.well-known/jwks.json" if identity else "http://127.0.0.1:9/"
        process = ServiceProcess(
            type(spec)(spec.name, free_port()),
            self.tmp / "services",
            {
                "CHORUS_ENVIRONMENT": "test",
                "CHORUS_KAFKA_BOOTSTRAP": self.infra.bootstrap,
                "CHORUS_MONGODB_URI": self.infra.mongo_uri,
                "CHORUS_DATABASE": self.database(name),
                "CHORUS_TOPIC_PREFIX": self.topic_prefix,
                "CHORUS_DEV_SIGNING_KEY_FILE": str(self.signing_key_file),
                "CHORUS_JWKS_URL": jwks,
                "CHORUS_FAULTS": faults,
                "CHORUS_OUTBOX_SWEEP_SECONDS": "1",
                **env,
            },
            instance=instance,
        )
        self.services.append(process)
        return process


@pytest.fixture
def ns(infra: Infra, tmp_path: Path) -> Iterator[Namespace]:
    namespace = Namespace(id=f"t{uuid.uuid4().hex[:10]}", infra=infra, tmp=tmp_path)
    yield namespace
    for service in namespace.services:
        service.kill()


@pytest.fixture
async def mongo(infra: Infra) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongo_uri, tz_aware=True)
    yield client
    await client.close()


MakeToken = Callable[..., str]
