"""Sign-in and tokens: the use cases (passwords, sign-in, refresh, sign-out, OIDC).

| use case                  | entry                                        |
|---------------------------|----------------------------------------------|
| `set_password`            | PUT /v1/employees/{id}/password (an admin)   |
| `sign_in`                 | POST /v1/sessions                            |
| `refresh`                 | POST /v1/sessions/refresh                    |
| `sign_out`                | POST /v1/sessions/sign-out                   |
| `start_oidc`              | GET /v1/sessions/oidc/start                  |
| `finish_oidc`             | POST /v1/sessions/oidc/callback              |
| `revoke_refresh_tokens`   | `chorus.identity.session.revoked` (consumer) |
| `sweep`                   | the sweeper loop                             |

Only active employees get tokens. Failures count per account and per client address;
crossing a limit is audited once per burst (`signin.throttled`), never per attempt.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import SecretStr

from chorus_kit.audit import AuditLog, audit_entry
from chorus_kit.auth import Principal, RevocationList, SigningKey
from chorus_kit.errors import Conflict, NotFound, Unauthorized
from chorus_kit.events import Event
from chorus_kit.events.audit import AuditOutcome
from chorus_kit.events.identity import EmploymentStatus, SessionsRevoked
from identity.adapters.attempt_counter import AttemptCounter
from identity.adapters.credential_store import CredentialStore
from identity.adapters.oidc_client import OidcClient, OidcRefused
from identity.adapters.oidc_login_store import OidcLogin, OidcLoginStore
from identity.adapters.password_hashing import PasswordHasher
from identity.adapters.refresh_token_store import RefreshTokenReused, RefreshTokenStore
from identity.domain.authorization import require_admin_over
from identity.domain.model import Employee
from identity.domain.org_units import OrgTree
from identity.domain.sessions import (
    Attempt,
    AttemptLimit,
    AttemptScope,
    PasswordPolicy,
    RefreshLifetimes,
    RefreshRefusal,
    RefreshToken,
    TooManyAttempts,
    account_key,
    address_key,
    burst_bucket,
    hash_refresh_token,
    new_pkce_verifier,
    pkce_challenge,
    refresh_refusal,
    retry_after_seconds,
    rotate,
    start_family,
    throttled_for,
)

log = logging.getLogger(__name__)
ANONYMOUS = "anonymous"


class EmployeeLookup(Protocol):
    async def get(self, employee_id: str) -> Employee: ...
    async def find_by_email(self, email: str) -> Employee | None: ...


class OrgTreeSource(Protocol):
    async def tree(self) -> OrgTree: ...


class SigningKeys(Protocol):
    async def signing_key(self) -> SigningKey: ...


@dataclass(frozen=True)
class SessionPolicy:
    access_lifetime: timedelta
    refresh: RefreshLifetimes
    password: PasswordPolicy
    account_limit: AttemptLimit
    address_limit: AttemptLimit
    oidc_login_lifetime: timedelta


@dataclass(frozen=True)
class IssuedTokens:
    person_id: str
    access_token: str
    access_expires_in: int
    refresh_token: str
    refresh_expires_at: datetime


@dataclass(frozen=True)
class OidcStart:
    authorization_url: str
    state: str
    expires_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SessionHandlers:
    employees: EmployeeLookup
    units: OrgTreeSource
    credentials: CredentialStore
    hasher: PasswordHasher
    refresh_tokens: RefreshTokenStore
    attempts: AttemptCounter
    keys: SigningKeys
    revocations: RevocationList
    audit: AuditLog
    oidc_logins: OidcLoginStore
    policy: SessionPolicy
    # Hands a committed credential write's events to the outbox relay (document id, events).
    credential_events_written: Callable[[str, Sequence[Event]], None]
    oidc: OidcClient | None = None

    # --- passwords ------------------------------------------------------------------------
    async def set_password(self, employee_id: str, password: SecretStr, *, by: Principal) -> None:
        """An admin over the person's unit sets (or resets) their password.

        A reset ends every session begun before it (their refresh tokens stop working).
        """
        employee = await self.employees.get(employee_id)
        require_admin_over(by, employee.unit_id, await self.units.tree())
        if employee.status is EmploymentStatus.OFFBOARDED:
            raise Conflict(f"employee {employee.id} is offboarded", code="not_employed")
        self.policy.password.check(password.get_secret_value(), email=employee.email)
        password_hash = await self.hasher.hash(password)
        current = await self.credentials.sequence_of(employee.id)
        entry = audit_entry(
            actor=by.sub,
            action="employee.password_set",
            target_type="employee",
            target_id=employee.id,
            unit_id=employee.unit_id,
        )
        event = self.audit.event(
            entry, subject=f"credential:{employee.id}", sequence=(current or 0) + 1
        )
        await self.credentials.set_password(
            employee.id, password_hash, set_by=by.sub, expected_sequence=current, events=[event]
        )
        self.credential_events_written(employee.id, [event])
        await self.refresh_tokens.revoke_person(employee.id, started_before=_now())

    # --- sign-in --------------------------------------------------------------------------
    async def sign_in(self, email: str, password: SecretStr, *, client: str) -> IssuedTokens:
        """Email and password → tokens. Every failure answers the same (`invalid_credentials`)
        after the same work: an unknown email is checked against a dummy hash."""
        now = _now()
        email = email.strip()
        limits = (
            (account_key(email), self.policy.account_limit),
            (address_key(client), self.policy.address_limit),
        )
        # Reserve first, then count: concurrent guesses see each other.
        reserved = {key: await self.attempts.reserve(key, at=now) for key, _ in limits}
        seen: dict[str, list[Attempt]] = {}
        for key, limit in limits:
            seen[key] = await self.attempts.attempts_since(
                key, now - limit.window, excluding=reserved[key]
            )
            wait = throttled_for(seen[key], limit=limit, now=now)
            if wait is not None:
                await self.attempts.forget(*reserved.values())
                await self._note_burst(key, limit, now=now, client=client, email=email)
                raise TooManyAttempts(retry_after_seconds(wait))

        employee = await self.employees.find_by_email(email)
        # The same reads and the same argon2 work whether or not the account exists.
        credential = await self.credentials.get(employee.id if employee else "-")
        matches = await self.hasher.verify(
            credential.password_hash if credential else None, password
        )
        if not matches or employee is None or employee.status is not EmploymentStatus.ACTIVE:
            for key, limit in limits:
                await self.attempts.mark_failed(reserved[key])
                after = [*seen[key], Attempt(at=now)]
                if throttled_for(after, limit=limit, now=now) is not None:
                    await self._note_burst(key, limit, now=now, client=client, email=email)
            raise Unauthorized("the email or the password is wrong", code="invalid_credentials")

        assert credential is not None
        await self.attempts.forget(reserved[limits[1][0]])
        await self.attempts.clear(limits[0][0])
        if self.hasher.needs_rehash(credential.password_hash):
            # The parameters changed since it was hashed: store it hashed with the current ones.
            rehashed = await self.hasher.hash(password)
            await self.credentials.replace_hash(
                employee.id, old_hash=credential.password_hash, new_hash=rehashed
            )
        return await self._start_session(employee, now=now)

    # --- refresh and sign-out -------------------------------------------------------------
    async def refresh(self, refresh_token: SecretStr, *, client: str) -> IssuedTokens:
        """Consume a refresh token for a new pair; a second use revokes its whole family."""
        now = _now()
        await self._check_address(client, now=now)
        token = await self.refresh_tokens.get(hash_refresh_token(refresh_token.get_secret_value()))
        refusal = refresh_refusal(
            token,
            now=now,
            family_revoked=bool(
                token and await self.refresh_tokens.family_revoked(token.family_id)
            ),
            person_sessions_revoked=bool(
                token and self.revocations.is_revoked(token.person_id, token.family_started_at)
            ),
        )
        if refusal is not None or token is None:
            raise await self._refused(refusal or RefreshRefusal.UNKNOWN, client=client, now=now)
        employee = await self._current_employee(token.person_id)
        if employee is None or employee.status is not EmploymentStatus.ACTIVE:
            await self._revoke_family(token, now=now, reason="not_active")
            raise await self._refused(RefreshRefusal.NOT_ACTIVE, client=client, now=now)

        secret, child = rotate(token, now=now, lifetimes=self.policy.refresh)
        try:
            await self.refresh_tokens.add(child)
        except RefreshTokenReused:
            if await self._revoke_family(token, now=now, reason="reused"):
                await self.audit.record_alone(
                    audit_entry(
                        actor=ANONYMOUS,
                        action="session.refresh_token_reused",
                        target_type="employee",
                        target_id=employee.id,
                        unit_id=employee.unit_id,
                        outcome=AuditOutcome.DENIED,
                        details={"session_revoked": True},
                        client_address=client,
                    )
                )
            raise await self._refused(RefreshRefusal.REUSED, client=client, now=now) from None
        # A revocation that landed while rotating wins.
        if await self.refresh_tokens.family_revoked(token.family_id):
            raise await self._refused(RefreshRefusal.FAMILY_REVOKED, client=client, now=now)
        return await self._tokens(employee, secret, child)

    async def sign_out(self, refresh_token: SecretStr, *, client: str) -> None:
        """Revoke the session (the refresh token's family); access tokens run out on their own."""
        now = _now()
        await self._check_address(client, now=now)
        token = await self.refresh_tokens.get(hash_refresh_token(refresh_token.get_secret_value()))
        if token is None:
            raise await self._refused(RefreshRefusal.UNKNOWN, client=client, now=now)
        await self._revoke_family(token, now=now, reason="signed_out")

    async def revoke_refresh_tokens(self, event: Event) -> None:
        """`session.revoked` (offboarding, suspension): delete the person's refresh tokens.

        Refresh also checks the person's status and the revocation list, so this is the
        third of three locks; it also makes the stored tokens go away. Safe to repeat.
        """
        revoked = event.data_as(SessionsRevoked)
        deleted = await self.refresh_tokens.revoke_person(
            revoked.person_id, started_before=revoked.revoked_before
        )
        log.info(
            "refresh tokens revoked",
            extra={"person_id": revoked.person_id, "deleted": deleted, "reason": revoked.reason},
        )

    # --- OIDC -----------------------------------------------------------------------------
    def _oidc(self) -> OidcClient:
        if self.oidc is None:
            raise NotFound("single sign-on is not configured", code="oidc_not_configured")
        return self.oidc

    async def start_oidc(self) -> OidcStart:
        """Where to send the browser; state, nonce and PKCE verifier stay here, single use."""
        oidc = self._oidc()
        state, nonce, verifier = (
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            new_pkce_verifier(),
        )
        expires_at = _now() + self.policy.oidc_login_lifetime
        url = await oidc.authorization_url(
            state=state, nonce=nonce, code_challenge=pkce_challenge(verifier)
        )
        await self.oidc_logins.add(
            state, OidcLogin(nonce=nonce, code_verifier=verifier, expires_at=expires_at)
        )
        return OidcStart(authorization_url=url, state=state, expires_at=expires_at)

    async def finish_oidc(self, code: str, state: str, *, client: str) -> IssuedTokens:
        """The provider's code → its verified ID token → the employee with that email."""
        oidc = self._oidc()
        now = _now()
        await self._check_address(client, now=now)
        login = await self.oidc_logins.take(state, now=now)
        if login is None:
            raise await self._oidc_refused(
                "oidc_state_invalid", "the sign-in is unknown, expired or used", client, now
            )
        try:
            id_token = await oidc.exchange_code(code, code_verifier=login.code_verifier)
            identity = await oidc.verify_id_token(id_token, nonce=login.nonce)
        except OidcRefused as exc:
            raise await self._oidc_refused(exc.code, exc.detail, client, now) from None
        employee = await self.employees.find_by_email(identity.email)
        if employee is None or employee.status is not EmploymentStatus.ACTIVE:
            raise await self._oidc_refused(
                "oidc_no_active_employee", "no active employee has this email", client, now
            )
        return await self._start_session(employee, now=now)

    # --- housekeeping ---------------------------------------------------------------------
    async def sweep(self) -> None:
        """Delete what expired: refresh tokens, revoked-family markers, attempts, OIDC logins."""
        now = _now()
        longest = max(self.policy.account_limit.window, self.policy.address_limit.window)
        await self.refresh_tokens.sweep(now)
        await self.attempts.sweep(now, keep=2 * longest)
        await self.oidc_logins.sweep(now)

    # --- helpers --------------------------------------------------------------------------
    async def _start_session(self, employee: Employee, *, now: datetime) -> IssuedTokens:
        secret, token = start_family(employee.id, now=now, lifetimes=self.policy.refresh)
        await self.refresh_tokens.add(token)
        return await self._tokens(employee, secret, token)

    async def _tokens(self, employee: Employee, secret: str, token: RefreshToken) -> IssuedTokens:
        key = await self.keys.signing_key()
        return IssuedTokens(
            person_id=employee.id,
            access_token=key.mint(
                employee.id, employee.roles, lifetime=self.policy.access_lifetime
            ),
            access_expires_in=int(self.policy.access_lifetime.total_seconds()),
            refresh_token=secret,
            refresh_expires_at=token.expires_at,
        )

    async def _current_employee(self, person_id: str) -> Employee | None:
        try:
            return await self.employees.get(person_id)
        except NotFound:
            return None

    async def _revoke_family(self, token: RefreshToken, *, now: datetime, reason: str) -> bool:
        return await self.refresh_tokens.revoke_family(
            token,
            at=now,
            reason=reason,
            until=token.family_started_at + self.policy.refresh.session,
        )

    async def _check_address(self, client: str, *, now: datetime) -> None:
        """Refuse a throttled address before doing any work for it."""
        key, limit = address_key(client), self.policy.address_limit
        wait = throttled_for(
            await self.attempts.attempts_since(key, now - limit.window), limit=limit, now=now
        )
        if wait is not None:
            await self._note_burst(key, limit, now=now, client=client)
            raise TooManyAttempts(retry_after_seconds(wait))

    async def _address_failed(self, client: str, *, now: datetime) -> None:
        key, limit = address_key(client), self.policy.address_limit
        await self.attempts.record_failure(key, at=now)
        attempts = await self.attempts.attempts_since(key, now - limit.window)
        if len(attempts) >= limit.limit:
            await self._note_burst(key, limit, now=now, client=client)

    async def _refused(
        self, refusal: RefreshRefusal, *, client: str, now: datetime
    ) -> Unauthorized:
        """Count the failure against the address; the error to raise."""
        await self._address_failed(client, now=now)
        return Unauthorized(_REFUSALS[refusal], code=refusal.value)

    async def _oidc_refused(
        self, code: str, detail: str, client: str, now: datetime
    ) -> Unauthorized:
        await self._address_failed(client, now=now)
        return Unauthorized(detail, code=code)

    async def _note_burst(
        self,
        key: str,
        limit: AttemptLimit,
        *,
        now: datetime,
        client: str,
        email: str | None = None,
    ) -> None:
        """Audit a burst of failures once: the first time its key is throttled."""
        if not await self.attempts.start_burst(key, burst_bucket(now, limit.window), at=now):
            return
        target_type, target_id, unit_id = "client_address", client, None
        if limit.scope is AttemptScope.ACCOUNT:
            employee = await self.employees.find_by_email(email) if email else None
            target_type = "employee" if employee else "unknown_account"
            target_id = employee.id if employee else key.split(":", 1)[1]
            unit_id = employee.unit_id if employee else None
        entry = audit_entry(
            actor=ANONYMOUS,
            action="signin.throttled",
            target_type=target_type,
            target_id=target_id,
            unit_id=unit_id,
            outcome=AuditOutcome.DENIED,
            details={
                "scope": limit.scope.value,
                "limit": limit.limit,
                "window_seconds": int(limit.window.total_seconds()),
            },
            client_address=client,
        )
        await self.audit.record_alone(entry)
        log.warning("failed sign-ins throttled", extra={"scope": limit.scope.value})


_REFUSALS = {
    RefreshRefusal.UNKNOWN: "the refresh token is not valid",
    RefreshRefusal.EXPIRED: "the refresh token expired; sign in again",
    RefreshRefusal.FAMILY_REVOKED: "the session was revoked; sign in again",
    RefreshRefusal.PERSON_REVOKED: "the person's sessions were revoked; sign in again",
    RefreshRefusal.REUSED: "the refresh token was used before; the session is revoked",
    RefreshRefusal.NOT_ACTIVE: "the person is not active",
}


async def run_session_sweeper(handlers: SessionHandlers, interval: float) -> None:
    """Expiry by our own scheduler (no TTL indexes on FerretDB); every replica may run it."""
    while True:
        await asyncio.sleep(interval)
        try:
            await handlers.sweep()
        except Exception:  # the database away: the next tick tries again
            log.exception("session sweep failed this tick")
