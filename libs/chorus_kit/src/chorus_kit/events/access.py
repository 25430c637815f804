"""Data of the events on `chorus.access.*` topics: accounts, grants, the vault, offboardings,
reviews. No event ever carries a secret: the vault's events name secrets, never hold them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from chorus_kit.events.identity import SocialNetwork


class Classification(StrEnum):
    BRAND = "brand"
    REGIONAL = "regional"
    EXECUTIVE = "executive"
    RECRUITING = "recruiting"  # recruiting and review-site profiles


class AccountRole(StrEnum):
    OWNER = "owner"
    PUBLISHER = "publisher"
    VIEWER = "viewer"


class SecretKind(StrEnum):
    PASSWORD = "password"
    TOTP_SEED = "totp_seed"
    API_TOKEN = "api_token"
    RECOVERY_CODES = "recovery_codes"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- accounts -------------------------------------------------------------------------------
class AccountSnapshot(_Strict):
    """What every account event carries."""

    account_id: str = Field(min_length=1)
    network: SocialNetwork
    handle: str
    url: str | None = None
    unit_id: str = Field(description="the owning org unit (subsidiary or department)")
    purpose: str | None = None
    classification: Classification
    owners: list[str] = Field(description="ids of the active owners")
    status: str = Field(description="active or archived")


class AccountRegistered(AccountSnapshot):
    """`chorus.access.account.registered`."""


class AccountUpdated(AccountSnapshot):
    """`chorus.access.account.updated`: descriptive fields changed."""

    changed: list[str]


class OwnerAdded(AccountSnapshot):
    """`chorus.access.account.owner_added`."""

    owner_id: str
    handed_over_from: str | None = Field(
        default=None, description="the leaving owner this ownership was handed over from"
    )


class OwnerRemoved(AccountSnapshot):
    """`chorus.access.account.owner_removed`."""

    owner_id: str
    reason: str


class CoverageLow(AccountSnapshot):
    """`chorus.access.account.coverage_low`: fewer than two active owners (an alert)."""

    active_owners: int


# --- requests and grants ----------------------------------------------------------------------
class AccessRequested(_Strict):
    """`chorus.access.grant.requested`: someone asks for a role on an account."""

    request_id: str
    account_id: str
    requester_id: str
    role: AccountRole
    justification: str
    duration_days: int | None = None
    duration_seconds: int | None = Field(
        default=None, description="the grant's requested length; none: the account's maximum"
    )
    deciders: list[str] = Field(
        description="who may decide: the account's owners, not the requester"
    )


class AccessRequestDecided(_Strict):
    """`chorus.access.grant.approved` / `chorus.access.grant.denied`."""

    request_id: str
    account_id: str
    requester_id: str
    role: AccountRole
    decided_by: str
    reason: str | None = None
    grant_id: str | None = None


class GrantSnapshot(_Strict):
    """A grant is an interval: `[granted_at, revoked_at or expires_at)`."""

    grant_id: str
    account_id: str
    account_unit_id: str
    holder_id: str
    role: AccountRole
    granted_at: datetime
    granted_by: str
    expires_at: datetime | None = Field(default=None, description="none only for owners")
    revoked_at: datetime | None = None


class GrantGranted(GrantSnapshot):
    """`chorus.access.grant.granted`."""

    request_id: str | None = None


class GrantExpiring(GrantSnapshot):
    """`chorus.access.grant.expiring`: emitted once, ahead of `expires_at`."""


class GrantRevoked(GrantSnapshot):
    """`chorus.access.grant.revoked`: ended before its time (manual, leaver, mover, review)."""

    revoked_by: str
    reason: str
    offboarding_id: str | None = None


class GrantExpired(GrantSnapshot):
    """`chorus.access.grant.expired`: ended at `expires_at` by the scheduler."""


# --- vault ------------------------------------------------------------------------------------
class SecretCheckedOut(_Strict):
    """`chorus.access.vault.checked_out` (never the secret itself)."""

    account_id: str
    secret_id: str
    kind: SecretKind
    lease_id: str
    holder_id: str
    lease_expires_at: datetime


class SecretCheckedIn(_Strict):
    """`chorus.access.vault.checked_in`: the lease ended (returned, expired or revoked)."""

    account_id: str
    secret_id: str
    lease_id: str
    holder_id: str
    ended_because: str
    offboarding_id: str | None = Field(
        default=None, description="the offboarding that ended it, if one did"
    )


class RotationRequired(_Strict):
    """`chorus.access.vault.rotation_required`."""

    account_id: str
    secret_id: str
    kind: SecretKind
    reason: str
    person_id: str | None = Field(default=None, description="whose departure or loss caused it")
    version: int | None = Field(default=None, description="the version that must be replaced")
    offboarding_id: str | None = Field(
        default=None, description="the offboarding that caused it, if one did"
    )


class SecretRotated(_Strict):
    """`chorus.access.vault.rotated`: owners recorded a new version."""

    account_id: str
    secret_id: str
    kind: SecretKind
    version: int
    rotated_by: str


# --- offboarding -------------------------------------------------------------------------------
class OwnershipHandover(_Strict):
    account_id: str
    from_id: str
    to_id: str | None = Field(description="none: nobody eligible, an alert was raised")


class OffboardingCompleted(_Strict):
    """`chorus.access.offboarding.completed`: everything access did for one leaver (or mover)."""

    offboarding_id: str = Field(description="derived from the identity event that caused it")
    person_id: str
    trigger: str = Field(description="offboarded, suspended or moved")
    trigger_event_id: str
    grants_revoked: list[str]
    leases_ended: list[str]
    secrets_flagged: list[str]
    ownership: list[OwnershipHandover]
    connector_calls: int = Field(description="revocation calls queued for the networks")
    completed_at: datetime


# --- reviews ----------------------------------------------------------------------------------
class ReviewStarted(_Strict):
    """`chorus.access.review.started`."""

    review_id: str
    unit_id: str | None = Field(description="none: every account")
    deadline: datetime
    undecided: str = Field(description="revoke or keep, at the deadline")
    items: int
    started_by: str


class ReviewReminderDue(_Strict):
    """`chorus.access.review.reminder_due`: an owner still has grants to decide."""

    review_id: str
    owner_id: str
    pending: int
    deadline: datetime


class ReviewDecided(_Strict):
    """`chorus.access.review.decided`: one grant confirmed or revoked."""

    review_id: str
    grant_id: str
    decision: str = Field(description="confirm or revoke")
    decided_by: str


class ReviewClosed(_Strict):
    """`chorus.access.review.closed`."""

    review_id: str
    confirmed: int
    revoked: int
    undecided: int
    undecided_action: str


# --- alerts -----------------------------------------------------------------------------------
class FormerStaffWithAccess(_Strict):
    """`chorus.platform.alert.former_staff_with_access`: must never happen; fires if it does."""

    person_ids: list[str]
    open_grants: int
    unacknowledged_connector_calls: int


class ConnectorCallFailed(_Strict):
    """`chorus.platform.alert.connector_call_failed`: a network's revocation connector did not
    acknowledge a call within its attempts or its maximum age; an admin may retry it."""

    call_id: str
    account_id: str
    network: SocialNetwork
    handle: str
    action: str = Field(description="revoke_access or rotate_credential")
    person_id: str | None = None
    grant_id: str | None = None
    secret_id: str | None = None
    reason: str
    attempts: int
    last_error: str | None = Field(default=None, description="e.g. `HTTP 503`, `connect error`")
    requested_at: datetime
