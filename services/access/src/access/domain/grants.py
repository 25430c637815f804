"""Access requests and grants: who may decide, how long a grant may last, how it ends.

A grant is an interval `[granted_at, end)` where the end is `revoked_at` or `expires_at`,
whichever comes first; "who had access to X at time T" is therefore a query over grants,
never a replay of events. Owners' grants are open-ended; everyone else's end within the
account's policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from access.domain.accounts import OwnerGrantChange
from access.domain.aggregate import raising
from chorus_kit.errors import ChorusError, Conflict
from chorus_kit.events import Event
from chorus_kit.events.access import (
    AccessRequestDecided,
    AccessRequested,
    AccountRole,
    GrantExpired,
    GrantExpiring,
    GrantGranted,
    GrantRevoked,
)

SYSTEM = "system"
EXPIRED = "expired"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


@dataclass(frozen=True)
class AccessRequest:
    id: str
    account_id: str
    account_unit_id: str
    requester_id: str
    role: AccountRole
    justification: str
    duration_seconds: int | None
    deciders: tuple[str, ...]
    requested_at: datetime
    status: RequestStatus = RequestStatus.PENDING
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    # Set on approval: the grant to write next (a second document, so possibly later).
    grant_id: str | None = None
    grant_expires_at: datetime | None = None
    grant_pending: bool = False
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())


@dataclass(frozen=True)
class Grant:
    id: str
    account_id: str
    account_unit_id: str
    holder_id: str
    role: AccountRole
    granted_at: datetime
    granted_by: str
    expires_at: datetime | None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None
    offboarding_id: str | None = None
    request_id: str | None = None
    expiring_sent: bool = False
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())

    @property
    def is_open(self) -> bool:
        return self.revoked_at is None

    def active_at(self, at: datetime) -> bool:
        return active_at(
            granted_at=self.granted_at,
            expires_at=self.expires_at,
            revoked_at=self.revoked_at,
            at=at,
        )

    def snapshot(self) -> dict[str, object]:
        return {
            "grant_id": self.id,
            "account_id": self.account_id,
            "account_unit_id": self.account_unit_id,
            "holder_id": self.holder_id,
            "role": self.role,
            "granted_at": self.granted_at,
            "granted_by": self.granted_by,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }


def active_at(
    *,
    granted_at: datetime,
    expires_at: datetime | None,
    revoked_at: datetime | None,
    at: datetime,
) -> bool:
    """Active at T ⇔ granted_at ≤ T < revoked_at and T < expires_at (absent ends: open)."""
    return (
        granted_at <= at
        and (revoked_at is None or at < revoked_at)
        and (expires_at is None or at < expires_at)
    )


# --- who decides, how long --------------------------------------------------------------------
def deciders_for(
    owners: Sequence[str], requester_id: str, *, employed: Collection[str]
) -> tuple[str, ...]:
    """Who may decide a request: the account's owners still employed, never the requester."""
    return tuple(o for o in dict.fromkeys(owners) if o != requester_id and o in employed)


def grant_lifetime(
    role: AccountRole, duration_seconds: int | None, *, max_grant_days: int
) -> timedelta | None:
    """How long a requested grant lasts: owners until their ownership ends (None); others
    what they asked for, or the account's maximum when they did not say."""
    if role is AccountRole.OWNER:
        if duration_seconds is not None:
            raise ChorusError(
                "ownership lasts until it is handed over or removed; omit the duration",
                code="owner_grants_do_not_expire",
            )
        return None
    longest = timedelta(days=max_grant_days)
    if duration_seconds is None:
        return longest
    if duration_seconds <= 0:
        raise ChorusError("the duration must be positive", code="duration_not_positive")
    if timedelta(seconds=duration_seconds) > longest:
        raise ChorusError(
            f"grants on this account last at most {max_grant_days} days",
            code="duration_exceeds_policy",
        )
    return timedelta(seconds=duration_seconds)


def lifetime_at_approval(
    role: AccountRole, duration_seconds: int | None, *, max_grant_days: int
) -> timedelta | None:
    """The lifetime when the grant is made: the policy may have tightened since the request."""
    if role is AccountRole.OWNER:
        return None
    longest = timedelta(days=max_grant_days)
    if duration_seconds is None:
        return longest
    return min(timedelta(seconds=duration_seconds), longest)


# --- requests ---------------------------------------------------------------------------------
def request_access(
    *,
    account_id: str,
    account_unit_id: str,
    requester_id: str,
    role: AccountRole,
    justification: str,
    duration_seconds: int | None,
    deciders: Sequence[str],
    now: datetime,
) -> AccessRequest:
    if not deciders:
        raise Conflict(
            "nobody but the requester owns this account; an admin must add owners first",
            code="no_deciders",
        )
    request = AccessRequest(
        id=str(uuid.uuid4()),
        account_id=account_id,
        account_unit_id=account_unit_id,
        requester_id=requester_id,
        role=role,
        justification=justification,
        duration_seconds=duration_seconds,
        deciders=tuple(deciders),
        requested_at=now,
    )
    days, rest = divmod(duration_seconds or 0, 86_400)
    requested = AccessRequested(
        request_id=request.id,
        account_id=account_id,
        requester_id=requester_id,
        role=role,
        justification=justification,
        duration_days=days if duration_seconds and not rest else None,
        duration_seconds=duration_seconds,
        deciders=list(deciders),
    )
    return raising(request, ("chorus.access.grant.requested", requested))


def _decided(request: AccessRequest, *, by: str, reason: str | None) -> AccessRequestDecided:
    return AccessRequestDecided(
        request_id=request.id,
        account_id=request.account_id,
        requester_id=request.requester_id,
        role=request.role,
        decided_by=by,
        reason=reason,
        grant_id=request.grant_id,
    )


def _require_pending(request: AccessRequest) -> None:
    if request.status is not RequestStatus.PENDING:
        raise Conflict(f"the request is {request.status.value} already", code="already_decided")


def approve(
    request: AccessRequest,
    *,
    by: str,
    now: datetime,
    lifetime: timedelta | None,
    reason: str | None = None,
) -> AccessRequest:
    """Approved, naming the grant to write next (its id, its end)."""
    _require_pending(request)
    approved = replace(
        request,
        status=RequestStatus.APPROVED,
        decided_at=now,
        decided_by=by,
        decision_reason=reason,
        grant_id=str(uuid.uuid4()),
        grant_expires_at=now + lifetime if lifetime is not None else None,
        grant_pending=True,
    )
    return raising(
        approved, ("chorus.access.grant.approved", _decided(approved, by=by, reason=reason))
    )


def deny(
    request: AccessRequest, *, by: str, now: datetime, reason: str | None = None
) -> AccessRequest:
    _require_pending(request)
    denied = replace(
        request,
        status=RequestStatus.DENIED,
        decided_at=now,
        decided_by=by,
        decision_reason=reason,
    )
    return raising(denied, ("chorus.access.grant.denied", _decided(denied, by=by, reason=reason)))


# --- grants -----------------------------------------------------------------------------------
def _granted(grant: Grant) -> Grant:
    granted = GrantGranted(**grant.snapshot(), request_id=grant.request_id)
    return raising(grant, ("chorus.access.grant.granted", granted))


def grant_for_request(request: AccessRequest) -> Grant:
    """The grant an approved (non-owner) request names."""
    if (
        request.status is not RequestStatus.APPROVED
        or request.grant_id is None
        or request.decided_at is None
        or request.decided_by is None
    ):
        raise Conflict("only an approved request makes a grant", code="not_approved")
    return _granted(
        Grant(
            id=request.grant_id,
            account_id=request.account_id,
            account_unit_id=request.account_unit_id,
            holder_id=request.requester_id,
            role=request.role,
            granted_at=request.decided_at,
            granted_by=request.decided_by,
            expires_at=request.grant_expires_at,
            request_id=request.id,
        )
    )


def owner_grant(change: OwnerGrantChange, *, account_id: str, account_unit_id: str) -> Grant:
    """The open-ended grant behind an ownership the account recorded."""
    return _granted(
        Grant(
            id=change.grant_id,
            account_id=account_id,
            account_unit_id=account_unit_id,
            holder_id=change.person_id,
            role=AccountRole.OWNER,
            granted_at=change.at,
            granted_by=change.by,
            expires_at=None,
            request_id=change.request_id,
        )
    )


def has_expired(grant: Grant, at: datetime) -> bool:
    return grant.expires_at is not None and grant.expires_at <= at


def end(
    grant: Grant,
    *,
    at: datetime,
    by: str,
    reason: str,
    effect: str,
    offboarding_id: str | None = None,
) -> Grant:
    """The grant closed: `expired` at its `expires_at` if that came first, else `revoked` at
    `at`. Its events' ids derive from `effect`, the one-time effect that ends it."""
    if not grant.is_open:
        raise Conflict("the grant has ended already", code="grant_not_open")
    if has_expired(grant, at):
        assert grant.expires_at is not None
        expired = replace(
            grant, revoked_at=grant.expires_at, revoked_by=SYSTEM, revoke_reason=EXPIRED
        )
        data: GrantExpired | GrantRevoked = GrantExpired(**expired.snapshot())
        return raising(expired, ("chorus.access.grant.expired", data), effect=effect)
    revoked = replace(
        grant, revoked_at=at, revoked_by=by, revoke_reason=reason, offboarding_id=offboarding_id
    )
    data = GrantRevoked(
        **revoked.snapshot(),
        revoked_by=by,
        reason=reason,
        offboarding_id=offboarding_id,
    )
    return raising(revoked, ("chorus.access.grant.revoked", data), effect=effect)


def expiring_due(grant: Grant, *, now: datetime, lead: timedelta) -> bool:
    """Open, not yet announced, and ending within `lead` (but not ended yet)."""
    return (
        grant.is_open
        and not grant.expiring_sent
        and grant.expires_at is not None
        and now < grant.expires_at <= now + lead
    )


def mark_expiring(grant: Grant, *, effect: str) -> Grant:
    if not grant.is_open or grant.expiring_sent:
        raise Conflict("the grant's expiry was announced already", code="expiring_sent")
    announced = replace(grant, expiring_sent=True)
    data = GrantExpiring(**announced.snapshot())
    return raising(announced, ("chorus.access.grant.expiring", data), effect=effect)
