"""Sign-in's part of the composition root: its stores, clients, loops and consumer.

`bootstrap.build_app` makes one `SignInParts` (no I/O beyond the local dev key files),
prepares it in the lifespan, and runs its loops beside the others.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from chorus_kit.audit import AuditLog
from chorus_kit.auth import RevocationList, load_or_create_dev_key
from chorus_kit.consumer import EventConsumer
from chorus_kit.events import Event
from chorus_kit.events.catalogue import SESSION, SESSIONS_REVOKED
from chorus_kit.faults import FaultPoints
from chorus_kit.kafka import create_producer
from identity.adapters.attempt_counter import AttemptCounter
from identity.adapters.credential_store import CredentialStore
from identity.adapters.key_ring import KeyRing, load_dev_key_encryption_key
from identity.adapters.oidc_client import OidcClient, OidcConfig
from identity.adapters.oidc_login_store import OidcLoginStore
from identity.adapters.password_hashing import Argon2Parameters, PasswordHasher
from identity.adapters.refresh_token_store import RefreshTokenStore
from identity.domain.sessions import (
    AttemptLimit,
    AttemptScope,
    PasswordPolicy,
    RefreshLifetimes,
)
from identity.session_handlers import (
    EmployeeLookup,
    OrgTreeSource,
    SessionHandlers,
    SessionPolicy,
    run_session_sweeper,
)
from identity.settings import IdentitySettings

SOURCE = "/chorus/identity"


def session_policy(settings: IdentitySettings) -> SessionPolicy:
    window = timedelta(minutes=settings.signin_window_minutes)
    return SessionPolicy(
        access_lifetime=timedelta(minutes=settings.access_token_minutes),
        refresh=RefreshLifetimes(
            token=timedelta(days=settings.refresh_token_days),
            session=timedelta(days=settings.session_max_days),
        ),
        password=PasswordPolicy(min_length=settings.password_min_length),
        account_limit=AttemptLimit(AttemptScope.ACCOUNT, settings.signin_account_failures, window),
        address_limit=AttemptLimit(AttemptScope.ADDRESS, settings.signin_address_failures, window),
        oidc_login_lifetime=timedelta(minutes=settings.oidc_login_minutes),
    )


def key_encryption_key(settings: IdentitySettings) -> bytes:
    configured = settings.key_encryption_key_bytes()
    if configured is not None:
        return configured
    if settings.is_production:  # the settings refuse this already; never fall through
        raise RuntimeError("CHORUS_IDENTITY_KEY_ENCRYPTION_KEY is required in production")
    return load_dev_key_encryption_key(settings.dev_key_encryption_key_file)


class SignInParts:
    def __init__(self, settings: IdentitySettings, database: AsyncDatabase[dict[str, Any]]):
        self._settings = settings
        self.credentials = CredentialStore(database)
        self.refresh_tokens = RefreshTokenStore(database)
        self.attempts = AttemptCounter(database)
        self.oidc_logins = OidcLoginStore(database)
        self.hasher = PasswordHasher(
            Argon2Parameters(
                time_cost=settings.password_hash_time_cost,
                memory_kib=settings.password_hash_memory_kib,
                parallelism=settings.password_hash_parallelism,
            )
        )
        # Outside production the dev key (`chorus token`, the tests) is trusted, verify-only.
        dev_key = (
            None
            if settings.is_production
            else load_or_create_dev_key(settings.dev_signing_key_file)
        )
        self.key_ring = KeyRing(
            database["signing_keys"],
            key_encryption_key=key_encryption_key(settings),
            rotation_period=timedelta(hours=settings.key_rotation_hours),
            dev_key=dev_key,
        )
        self.trusted_proxies = settings.trusted_proxy_networks()
        self._http: httpx.AsyncClient | None = None

    @property
    def outbox_collections(self) -> list[AsyncCollection[dict[str, Any]]]:
        """Collections whose documents carry events for the relay."""
        return [self.credentials.collection]

    async def prepare(self) -> None:
        for store in (self.credentials, self.refresh_tokens, self.attempts, self.oidc_logins):
            await store.prepare()
        await self.hasher.prepare()
        await self.key_ring.prepare()
        self._http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)

    def handlers(
        self,
        *,
        employees: EmployeeLookup,
        units: OrgTreeSource,
        revocations: RevocationList,
        audit: AuditLog,
        credential_events_written: Callable[[str, Sequence[Event]], None],
    ) -> SessionHandlers:
        settings = self._settings
        oidc = None
        if settings.oidc_issuer and settings.oidc_client_id and settings.oidc_redirect_uri:
            assert self._http is not None, "prepare() first"
            issuer = settings.oidc_issuer.rstrip("/")
            oidc = OidcClient(
                OidcConfig(
                    issuer=settings.oidc_issuer,
                    client_id=settings.oidc_client_id,
                    client_secret=settings.oidc_client_secret,
                    discovery_url=settings.oidc_discovery_url
                    or f"{issuer}/.well-known/openid-configuration",
                    redirect_uri=settings.oidc_redirect_uri,
                    scopes=settings.oidc_scopes,
                ),
                self._http,
            )
        return SessionHandlers(
            employees=employees,
            units=units,
            credentials=self.credentials,
            hasher=self.hasher,
            refresh_tokens=self.refresh_tokens,
            attempts=self.attempts,
            keys=self.key_ring,
            revocations=revocations,
            audit=audit,
            oidc_logins=self.oidc_logins,
            policy=session_policy(settings),
            credential_events_written=credential_events_written,
            oidc=oidc,
        )

    def loops(self, handlers: SessionHandlers) -> list[Callable[[], Awaitable[None]]]:
        """Background loops: key rotation, expiry sweeps, and the session.revoked consumer."""
        settings = self._settings
        revoked_sessions = EventConsumer(
            bootstrap=settings.kafka_bootstrap,
            group="identity-refresh-tokens",
            topics=[SESSION],
            handlers={SESSIONS_REVOKED.type: handlers.revoke_refresh_tokens},
            producer_factory=lambda: create_producer(
                settings.kafka_bootstrap, client_id="identity-refresh-tokens"
            ),
            source=SOURCE,
            topic_prefix=settings.topic_prefix,
            faults=FaultPoints(settings.faults),
        )

        async def sweeper() -> None:
            await run_session_sweeper(handlers, settings.session_sweep_seconds)

        return [self.key_ring.run, sweeper, revoked_sessions.run]

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        self.hasher.close()


def generate_key_encryption_key() -> str:
    """A value for CHORUS_IDENTITY_KEY_ENCRYPTION_KEY (`python -c` this for production)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()
