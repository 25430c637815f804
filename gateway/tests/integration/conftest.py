"""One identity, a recording proxy in front of it, and a gateway, shared by a test module.

Everything is real (processes, Kafka, FerretDB); the proxy only counts and, when a
test asks, delays or rewrites what identity answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chorus_kit.auth import load_or_create_dev_key
from chorus_kit.events.identity import Role, RoleAssignment
from chorus_local.infra import free_port
from chorus_local.services import ServiceProcess, ServiceSpec
from tests.support.graphql import GraphQL
from tests.support.proxy import RecordingProxy


@dataclass
class Stack:
    id: str
    bootstrap: str
    mongo_uri: str
    tmp: Path
    processes: list[ServiceProcess] = field(default_factory=list)
    identity: ServiceProcess | None = None
    proxy: RecordingProxy | None = None
    gateway: ServiceProcess | None = None

    @property
    def topic_prefix(self) -> str:
        return f"{self.id}."

    def topic(self, logical: str) -> str:
        return f"{self.topic_prefix}{logical}"

    @property
    def key_file(self) -> Path:
        return self.tmp / "jwt-signing-key.pem"

    def token(self, role: Role = Role.ADMIN, unit: str = "company", sub: str = "test-admin") -> str:
        key = load_or_create_dev_key(self.key_file)
        return key.mint(sub, [RoleAssignment(role=role, unit=unit)])

    def tokens(self, sub: str, *roles: tuple[Role, str]) -> str:
        key = load_or_create_dev_key(self.key_file)
        return key.mint(sub, [RoleAssignment(role=r, unit=u) for r, u in roles])

    def process(self, name: str, *, instance: str = "", **env: str) -> ServiceProcess:
        identity_url = self.identity.url if self.identity else "http://127.0.0.1:9"
        process = ServiceProcess(
            ServiceSpec(name, free_port()),
            self.tmp / "services",
            {
                "CHORUS_ENVIRONMENT": "test",
                "CHORUS_KAFKA_BOOTSTRAP": self.bootstrap,
                "CHORUS_MONGODB_URI": self.mongo_uri,
                "CHORUS_DATABASE": f"{self.id}_{name}",
                "CHORUS_TOPIC_PREFIX": self.topic_prefix,
                "CHORUS_DEV_SIGNING_KEY_FILE": str(self.key_file),
                "CHORUS_JWKS_URL": f"{identity_url}/.well-known/jwks.json",
                "CHORUS_OUTBOX_SWEEP_SECONDS": "1",
                "CHORUS_ALLOW_WEAK_PASSWORD_HASHING": "true",
                "CHORUS_PASSWORD_HASH_TIME_COST": "1",
                "CHORUS_PASSWORD_HASH_MEMORY_KIB": "8",
                "CHORUS_PASSWORD_HASH_PARALLELISM": "1",
                **env,
            },
            instance=instance,
        )
        self.processes.append(process)
        return process

    def start_gateway(self, *, instance: str = "", **env: str) -> ServiceProcess:
        """A gateway calling identity through the proxy."""
        assert self.proxy is not None
        gateway = self.process(
            "gateway",
            instance=instance,
            CHORUS_IDENTITY_URL=self.proxy.url,
            CHORUS_CORS_ORIGINS="https://web.example.com",
            # No access unless a test starts one (never a developer's on the default port).
            **{"CHORUS_ACCESS_URL": "http://127.0.0.1:9", **env},
        )
        gateway.start()
        return gateway

    def graphql(self, gateway: ServiceProcess | None = None) -> GraphQL:
        target = gateway or self.gateway
        assert target is not None
        return GraphQL(target.url)


@pytest.fixture(scope="module")
def stack(infra, tmp_path_factory) -> Iterator[Stack]:
    stack = Stack(
        id=f"g{uuid.uuid4().hex[:10]}",
        bootstrap=infra.bootstrap,
        mongo_uri=infra.mongo_uri,
        tmp=tmp_path_factory.mktemp("gateway"),
    )
    try:
        stack.identity = stack.process("identity")
        stack.identity.start()
        stack.proxy = RecordingProxy(stack.identity.url).start()
        stack.gateway = stack.start_gateway()
        yield stack
    finally:
        for process in stack.processes:
            process.kill()
        if stack.proxy:
            stack.proxy.stop()


@pytest.fixture
def proxy(stack: Stack) -> Iterator[RecordingProxy]:
    assert stack.proxy is not None
    stack.proxy.reset()
    yield stack.proxy
    stack.proxy.reset()


@pytest.fixture
def gql(stack: Stack) -> GraphQL:
    return stack.graphql()
