"""What access's REST API reads and answers (DTOs, separate from the domain's objects)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from access.domain.accounts import Account
from access.domain.grants import AccessRequest, Grant, RequestStatus
from access.domain.reports import AccessRow, FormerStaffEntry
from chorus_kit.events.access import AccountRole, Classification
from chorus_kit.events.identity import RoleAssignment, SocialNetwork

MAX_BATCH = 500


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- employment (the mirror) ------------------------------------------------------------------
class EmploymentHistoryEntry(BaseModel):
    event_id: str
    type: str
    sequence: int
    at: datetime


class EmploymentRead(BaseModel):
    employee_id: str
    status: str
    unit_id: str
    unit_path: list[str] = []
    roles: list[RoleAssignment] = []
    manager_chain: list[str]
    employed_since: datetime | None
    employed_until: datetime | None
    last_sequence: int
    history: list[EmploymentHistoryEntry]


# --- accounts ---------------------------------------------------------------------------------
class PolicyRead(BaseModel):
    max_grant_days: int
    rotate_after_checkout: bool
    secret_max_age_days: int


class AccountRead(BaseModel):
    id: str
    network: SocialNetwork
    handle: str
    url: str | None
    unit_id: str
    purpose: str | None
    classification: Classification
    status: str
    owners: list[str]
    coverage_low: bool = Field(description="fewer than two active owners")
    policy: PolicyRead
    has_connector: bool
    registered_at: datetime
    registered_by: str
    sequence: int

    @classmethod
    def of(cls, account: Account) -> AccountRead:
        return cls(
            id=account.id,
            network=account.network,
            handle=account.handle,
            url=account.url,
            unit_id=account.unit_id,
            purpose=account.purpose,
            classification=account.classification,
            status=account.status,
            owners=account.owners,
            coverage_low=account.coverage_low,
            policy=PolicyRead(**account.policy.model_dump()),
            has_connector=account.connector is not None,
            registered_at=account.registered_at,
            registered_by=account.registered_by,
            sequence=account.sequence,
        )


class AccountQuery(_Query):
    unit_id: str | None = Field(default=None, max_length=64)
    classification: Classification | None = None
    coverage_low: bool | None = None
    limit: int = Field(default=50, ge=1, le=200)
    after: str | None = Field(default=None, max_length=300)


class AccountPage(BaseModel):
    items: list[AccountRead]
    next_cursor: str | None


class BatchGet(_Query):
    ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)


class AccountBatch(BaseModel):
    accounts: list[AccountRead]
    not_found: list[str] = Field(description="unknown, or not yours to see")


# --- requests ---------------------------------------------------------------------------------
class AccessRequestRead(BaseModel):
    id: str
    account_id: str
    account_unit_id: str
    requester_id: str
    role: AccountRole
    justification: str
    duration_seconds: int | None
    deciders: list[str]
    status: RequestStatus
    requested_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None
    grant_id: str | None

    @classmethod
    def of(cls, request: AccessRequest) -> AccessRequestRead:
        return cls(
            id=request.id,
            account_id=request.account_id,
            account_unit_id=request.account_unit_id,
            requester_id=request.requester_id,
            role=request.role,
            justification=request.justification,
            duration_seconds=request.duration_seconds,
            deciders=list(request.deciders),
            status=request.status,
            requested_at=request.requested_at,
            decided_at=request.decided_at,
            decided_by=request.decided_by,
            decision_reason=request.decision_reason,
            grant_id=request.grant_id,
        )


class RequestQuery(_Query):
    status: RequestStatus | None = None
    account_id: str | None = Field(default=None, max_length=200)
    requester_id: str | None = Field(default=None, max_length=200)
    to_decide: bool = Field(default=False, description="only those awaiting my decision")
    limit: int = Field(default=50, ge=1, le=200)
    after: str | None = Field(default=None, max_length=300)


class RequestPage(BaseModel):
    items: list[AccessRequestRead]
    next_cursor: str | None


# --- grants -----------------------------------------------------------------------------------
class GrantRead(BaseModel):
    id: str
    account_id: str
    account_unit_id: str
    holder_id: str
    role: AccountRole
    granted_at: datetime
    granted_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    offboarding_id: str | None
    request_id: str | None
    active: bool = Field(description="active now")

    @classmethod
    def of(cls, grant: Grant, *, now: datetime) -> GrantRead:
        return cls(
            id=grant.id,
            account_id=grant.account_id,
            account_unit_id=grant.account_unit_id,
            holder_id=grant.holder_id,
            role=grant.role,
            granted_at=grant.granted_at,
            granted_by=grant.granted_by,
            expires_at=grant.expires_at,
            revoked_at=grant.revoked_at,
            revoked_by=grant.revoked_by,
            revoke_reason=grant.revoke_reason,
            offboarding_id=grant.offboarding_id,
            request_id=grant.request_id,
            active=grant.active_at(now),
        )


class DecisionRead(BaseModel):
    request: AccessRequestRead
    grant: GrantRead | None


class GrantQuery(_Query):
    account_id: str | None = Field(default=None, max_length=200)
    holder_id: str | None = Field(default=None, max_length=200)
    active_only: bool = True
    limit: int = Field(default=50, ge=1, le=200)
    after: str | None = Field(default=None, max_length=300)


class GrantPage(BaseModel):
    items: list[GrantRead]
    next_cursor: str | None


class GrantsOfHolders(_Query):
    holder_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)
    active_only: bool = True


class GrantsOfAccounts(_Query):
    account_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)
    active_only: bool = True


class HolderGrants(BaseModel):
    holder_id: str
    grants: list[GrantRead]


class AccountGrants(BaseModel):
    account_id: str
    grants: list[GrantRead]


class GrantsByHolder(BaseModel):
    groups: list[HolderGrants] = Field(description="one per holder asked, in that order")


class GrantsByAccount(BaseModel):
    groups: list[AccountGrants] = Field(description="one per account asked, in that order")


# --- reports ----------------------------------------------------------------------------------
class AccessReportQuery(_Query):
    at: AwareDatetime | None = Field(default=None, description="default: now")
    unit_id: str | None = Field(default=None, max_length=64)
    account_id: str | None = Field(default=None, max_length=200)
    holder_id: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=1000, ge=1, le=5000)
    after: str | None = Field(default=None, max_length=300)


class AccessReportRow(BaseModel):
    account_id: str
    network: str | None
    handle: str | None
    account_unit_id: str
    holder_id: str
    holder_email: str | None
    holder_status: str | None
    role: AccountRole
    grant_id: str
    granted_at: datetime
    granted_by: str
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: AccessRow) -> AccessReportRow:
        return cls.model_validate(row.cells())


class AccessReport(BaseModel):
    at: datetime
    items: list[AccessReportRow]
    next_cursor: str | None


class FormerStaffRead(BaseModel):
    person_id: str
    email: str | None
    unit_id: str | None
    employed_until: datetime | None
    open_grants: list[GrantRead]
    pending_connector_revocations: int

    @classmethod
    def of(cls, entry: FormerStaffEntry, *, now: datetime) -> FormerStaffRead:
        return cls(
            person_id=entry.person_id,
            email=entry.email,
            unit_id=entry.unit_id,
            employed_until=entry.employed_until,
            open_grants=[GrantRead.of(g, now=now) for g in entry.open_grants],
            pending_connector_revocations=entry.pending_connector_revocations,
        )


class FormerStaffReport(BaseModel):
    people: list[FormerStaffRead] = Field(description="must be empty")
    open_grants: int
    unacknowledged_connector_calls: int
