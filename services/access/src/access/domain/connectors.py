"""Revocation connectors: telling a network itself (or the organisation's automation) that
someone's access ended or a credential must change.

Revoking in Chorus is not enough while the person is still an admin on the network. Each
account may have a connector: a webhook URL and a signing secret of its own. When a grant
ends (any reason) or a credential must rotate, access records a *call* (one document,
written before anything is sent, with an id derived from what it is about so a redelivered
event never makes a second one), then a background worker delivers it until the receiver
answers 2xx, backing off exponentially with jitter; after `max_attempts` or `max_age` the
call is `failed` (an alert goes out with that write) and waits for an admin's retry.

The request a receiver gets: a JSON body (`payload`), `X-Chorus-Call-Id`, and
`X-Chorus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`. The
body is the same bytes on every attempt; the call id is the receiver's idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from access.domain.aggregate import raising
from access.domain.audit import audited
from access.domain.authorization import READERS, holds_over, require_admin_over, units_covered
from access.domain.org_view import UnitTree
from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict, Forbidden
from chorus_kit.events import Event
from chorus_kit.events.access import ConnectorCallFailed
from chorus_kit.events.identity import SocialNetwork

SIGNATURE_HEADER = "X-Chorus-Signature"
CALL_ID_HEADER = "X-Chorus-Call-Id"
CALL_FAILED = "chorus.platform.alert.connector_call_failed"
SECRET_PREFIX = "chc_"
MAX_URL_CHARS = 2000
# Calls are named by what they are about, so two replicas (or a redelivered event)
# computing the call for one grant end agree on its id.
_CALL_IDS = uuid.UUID("0b5e7f0e-4d0c-4a6e-9f43-1c3f6a0f2d77")


class ConnectorAction(StrEnum):
    REVOKE_ACCESS = "revoke_access"
    ROTATE_CREDENTIAL = "rotate_credential"


class CallStatus(StrEnum):
    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"


# --- configuration ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ConnectorConfig:
    """What an account's `connector` field holds; the secret itself is sealed elsewhere
    (`secret_ref` names it) and leaves the service once, in the answer that created it."""

    url: str
    secret_ref: str
    configured_at: datetime
    configured_by: str
    secret_rotated_at: datetime


def check_url(url: str, *, require_https: bool) -> str:
    """An absolute http(s) URL without credentials; https only where the settings say so."""
    text = url.strip()
    if not text or len(text) > MAX_URL_CHARS:
        raise ChorusError("the connector URL is empty or too long", code="connector_url_invalid")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChorusError(
            "the connector URL must be an absolute http(s) URL", code="connector_url_invalid"
        )
    if parts.username or parts.password:
        raise ChorusError(
            "the connector URL must not carry credentials (the signature authenticates calls)",
            code="connector_url_invalid",
        )
    if require_https and parts.scheme != "https":
        raise ChorusError("the connector URL must use https", code="connector_url_not_https")
    return text


def new_signing_secret() -> str:
    """A fresh per-connector secret (256 bits), recognisable by its prefix in a leak scan."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_associated_data(account_id: str, secret_ref: str) -> bytes:
    """Binds a sealed connector secret to its account and reference (moved, it fails to open)."""
    return f"chorus connector secret|{account_id}|{secret_ref}".encode()


# --- who may do what ------------------------------------------------------------------------
def require_may_configure(
    principal: Principal, *, owners: tuple[str, ...], unit_id: str, tree: UnitTree
) -> None:
    """An owner of the account, or an admin over its unit, sets up its connector."""
    if principal.sub in owners:
        return
    require_admin_over(principal, unit_id, tree, code="not_owner_or_admin")


def may_read_calls(
    principal: Principal, *, owners: tuple[str, ...], unit_id: str, tree: UnitTree
) -> bool:
    """Owners of the account, and admins or auditors over its unit, see its calls."""
    return principal.sub in owners or holds_over(principal, READERS, unit_id, tree)


def require_may_retry(
    principal: Principal, *, owners: tuple[str, ...], unit_id: str, tree: UnitTree
) -> None:
    """Owners and admins retry a failed call; auditors only read."""
    if principal.sub in owners:
        return
    require_admin_over(principal, unit_id, tree, code="not_owner_or_admin")


@dataclass(frozen=True)
class CallScope:
    """The calls one caller may list: their accounts' and their units' (None: all units)."""

    owned_accounts: frozenset[str]
    reader_units: set[str] | None

    @property
    def sees_everything(self) -> bool:
        return self.reader_units is None


def call_scope(principal: Principal, tree: UnitTree, *, owned_accounts: set[str]) -> CallScope:
    units = units_covered(principal, tree, READERS)
    if units is not None and not units and not owned_accounts:
        raise Forbidden(
            "connector calls are for owners, admins and auditors", code="not_allowed_to_read"
        )
    return CallScope(owned_accounts=frozenset(owned_accounts), reader_units=units)


# --- signing ----------------------------------------------------------------------------------
def signature(secret: str, *, timestamp: int, body: bytes) -> str:
    """The `X-Chorus-Signature` value: HMAC-SHA256 over `"<timestamp>." + body`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def request_headers(call_id: str, secret: str, *, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        CALL_ID_HEADER: call_id,
        SIGNATURE_HEADER: signature(secret, timestamp=timestamp, body=body),
    }


# --- calls ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountFacts:
    """What a call needs of its account (read when the call is recorded)."""

    id: str
    unit_id: str
    network: SocialNetwork
    handle: str
    owners: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectorCall:
    id: str
    account_id: str
    account_unit_id: str
    network: SocialNetwork
    handle: str
    action: ConnectorAction
    person_id: str | None
    grant_id: str | None
    secret_id: str | None
    reason: str
    requested_at: datetime
    role: str | None = None
    secret_kind: str | None = None
    status: CallStatus = CallStatus.PENDING
    # Attempts started so far; also the last attempt slot claimed (see connector_store).
    attempts: int = 0
    # Attempts made before the last admin retry (they do not count against the limit).
    attempts_before_retry: int = 0
    pending_since: datetime | None = None
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str | None = None
    last_status_code: int | None = None
    acknowledged_at: datetime | None = None
    failed_at: datetime | None = None
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())

    def payload(self) -> dict[str, Any]:
        """The JSON body the receiver gets (the same on every attempt)."""
        return {
            "call_id": self.id,
            "account_id": self.account_id,
            "network": self.network.value,
            "handle": self.handle,
            "action": self.action.value,
            "person_id": self.person_id,
            "grant_id": self.grant_id,
            "secret_id": self.secret_id,
            "role": self.role,
            "secret_kind": self.secret_kind,
            "reason": self.reason,
            "requested_at": self.requested_at.isoformat(),
        }

    def body(self) -> bytes:
        return json.dumps(self.payload(), sort_keys=True, separators=(",", ":")).encode()

    @property
    def attempts_counted(self) -> int:
        return self.attempts - self.attempts_before_retry


def call_id_for(account_id: str, action: ConnectorAction, subject: str, reason: str) -> str:
    """One call per (account, action, grant or secret version, reason)."""
    return str(uuid.uuid5(_CALL_IDS, f"{account_id}|{action.value}|{subject}|{reason}"))


def revoke_call(
    account: AccountFacts,
    *,
    grant_id: str,
    holder_id: str,
    role: str,
    reason: str,
    requested_at: datetime,
) -> ConnectorCall:
    """The call that tells the network a grant ended (revoked, expired, left, moved...)."""
    return ConnectorCall(
        id=call_id_for(account.id, ConnectorAction.REVOKE_ACCESS, grant_id, reason),
        account_id=account.id,
        account_unit_id=account.unit_id,
        network=account.network,
        handle=account.handle,
        action=ConnectorAction.REVOKE_ACCESS,
        person_id=holder_id,
        grant_id=grant_id,
        secret_id=None,
        role=role,
        reason=reason,
        requested_at=requested_at,
        pending_since=requested_at,
        next_attempt_at=requested_at,
    )


def rotate_call(
    account: AccountFacts,
    *,
    secret_id: str,
    secret_kind: str,
    version: int | None,
    person_id: str | None,
    reason: str,
    requested_at: datetime,
) -> ConnectorCall:
    """The call that asks for a credential to be changed on the network. Keyed by the
    version to replace, so a later rotation of the same secret is a call of its own."""
    subject = f"{secret_id}@v{version}" if version is not None else secret_id
    return ConnectorCall(
        id=call_id_for(account.id, ConnectorAction.ROTATE_CREDENTIAL, subject, reason),
        account_id=account.id,
        account_unit_id=account.unit_id,
        network=account.network,
        handle=account.handle,
        action=ConnectorAction.ROTATE_CREDENTIAL,
        person_id=person_id,
        grant_id=None,
        secret_id=secret_id,
        secret_kind=secret_kind,
        reason=reason,
        requested_at=requested_at,
        pending_since=requested_at,
        next_attempt_at=requested_at,
    )


# --- delivery ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter, capped; a call fails after `max_attempts` attempts
    (counted since its last retry) or once it has been pending for `max_age`."""

    first_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=5)
    max_attempts: int = 12
    max_age: timedelta = timedelta(hours=24)

    def delay_after(self, attempt: int, jitter: float) -> timedelta:
        """The wait after the `attempt`-th failed attempt; `jitter` in [0, 1) spreads
        retries of many calls over the second half of the window ("equal jitter")."""
        doubling = 2.0 ** min(max(attempt - 1, 0), 40)
        window = min(self.first_delay * doubling, self.max_delay)
        half: timedelta = window / 2
        return half + half * jitter


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt came to: the receiver's status code, or why none came back."""

    status_code: int | None
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str:
        if self.acknowledged:
            return f"HTTP {self.status_code}"
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return self.error or "no answer"


def attempted(
    call: ConnectorCall,
    *,
    attempt: int,
    outcome: DeliveryOutcome,
    now: datetime,
    policy: RetryPolicy,
    jitter: float,
) -> ConnectorCall:
    """The call after its `attempt`-th attempt: acknowledged; still pending with its next
    attempt scheduled; or failed (with the alert event) when the policy gives up."""
    if call.status is not CallStatus.PENDING:
        raise Conflict(f"the call is {call.status.value}", code="call_not_pending")
    tried = replace(
        call,
        attempts=max(call.attempts, attempt),
        last_attempt_at=now,
        last_status_code=outcome.status_code,
        last_error=None if outcome.acknowledged else outcome.describe(),
    )
    if outcome.acknowledged:
        return replace(
            tried, status=CallStatus.ACKNOWLEDGED, acknowledged_at=now, next_attempt_at=None
        )
    pending_since = call.pending_since or call.requested_at
    if tried.attempts_counted >= policy.max_attempts or now - pending_since >= policy.max_age:
        return gave_up(tried, now=now)
    return replace(tried, next_attempt_at=now + policy.delay_after(tried.attempts_counted, jitter))


def gave_up(call: ConnectorCall, *, now: datetime, error: str | None = None) -> ConnectorCall:
    """Failed: no more automatic attempts; the alert rides in the same write."""
    failed = replace(
        call,
        status=CallStatus.FAILED,
        failed_at=now,
        next_attempt_at=None,
        last_error=error or call.last_error,
    )
    alert = ConnectorCallFailed(
        call_id=call.id,
        account_id=call.account_id,
        network=call.network,
        handle=call.handle,
        action=call.action.value,
        person_id=call.person_id,
        grant_id=call.grant_id,
        secret_id=call.secret_id,
        reason=call.reason,
        attempts=call.attempts,
        last_error=failed.last_error,
        requested_at=call.requested_at,
    )
    return raising(failed, (CALL_FAILED, alert))


def retried(call: ConnectorCall, *, by: str, now: datetime) -> ConnectorCall:
    """A failed call back in the queue at once, with a fresh budget of attempts and age."""
    if call.status is not CallStatus.FAILED:
        raise Conflict("only a failed call is retried", code="call_not_failed")
    again = replace(
        call,
        status=CallStatus.PENDING,
        attempts_before_retry=call.attempts,
        pending_since=now,
        next_attempt_at=now,
        failed_at=None,
    )
    return audited(
        again,
        actor=by,
        action="connector_call.retried",
        target_type="connector_call",
        unit_id=call.account_unit_id,
        details={"account_id": call.account_id, "attempts": call.attempts},
    )
