"""Access's types as the front ends see them: accounts, grants, requests, leases, reviews,
the access report.

Objects are built from access's JSON answers; every field that needs another lookup
(an account's owners, a grant's holder or account) goes through the request's loaders.
Access answers only what the caller may see, so lists hold only that, and a lookup of
something hidden loads as nothing. No type here ever holds a secret except
`Credential`, which only `checkOutCredential` returns.
"""

from __future__ import annotations

import base64
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from chorus_kit.events.access import AccountRole, Classification, SecretKind
from chorus_kit.events.identity import SocialNetwork
from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.identity.types import (
    Employee,
    OrgUnit,
    load_employee,
    unavailable_field,
    unit_of,
)
from gateway.pagination import PageInfo
from gateway.problems import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)

Json = dict[str, Any]

for _enum in (AccountRole, Classification, SecretKind):
    strawberry.enum(_enum)


# Access's own states (its domain enums stay in the service; these mirror their values).
@strawberry.enum
class AccessRequestStatus(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


@strawberry.enum
class LeaseStatus(Enum):
    OPEN = "open"
    ENDED = "ended"


@strawberry.enum
class AccessReviewStatus(Enum):
    STARTING = "starting"
    OPEN = "open"
    CLOSED = "closed"


@strawberry.enum
class ReviewDecision(Enum):
    CONFIRM = "confirm"
    REVOKE = "revoke"


@strawberry.enum
class ReviewOutcome(Enum):
    KEPT = "kept"
    REVOKED = "revoked"
    ENDED_BEFORE = "ended_before"


@strawberry.enum
class UndecidedAction(Enum):
    REVOKE = "revoke"
    KEEP = "keep"


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _id(value: str | None) -> strawberry.ID | None:
    return strawberry.ID(value) if value else None


def cursor_of(last_id: str) -> str:
    """Access's keyset cursor (the last id seen, base64url): any edge's cursor continues
    after it."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


# --- lookups through the request's loaders ------------------------------------------------------
async def load_account(info: Info, account_id: str) -> Account | None:
    try:
        raw = await info.context.access.account.load(account_id)
    except (BackendUnavailable, BackendProblem) as exc:
        raise unavailable_field(exc) from None
    return Account.of(raw) if raw else None


async def load_employees(info: Info, ids: list[str]) -> list[Employee]:
    """Those of `ids` the caller may see, in one batch with every other row's."""
    if not ids:
        return []
    try:
        found = await info.context.identity.load_many(ids)
    except (BackendUnavailable, BackendProblem) as exc:
        raise unavailable_field(exc) from None
    people = []
    for raw in found:
        if isinstance(raw, (BackendUnavailable, BackendProblem)):
            raise unavailable_field(raw)
        if raw:
            people.append(Employee.of(raw))
    return people


async def grants_of_holder(info: Info, holder_id: str, *, active_only: bool) -> list[Grant]:
    """A person's grants the caller may see (their own, or those on accounts the caller
    owns or reads as an admin or auditor): one call for every row of the level."""
    try:
        found = await info.context.access.grants_of_holder(active_only).load(holder_id)
    except (BackendUnavailable, BackendProblem) as exc:
        raise unavailable_field(exc) from None
    return [Grant.of(g) for g in found]


def grants_of_holder_soon(info: Info, holder_id: str, *, active_only: bool) -> Any:
    """The grants at once when their page fetched them (`AccessLoaders.fetch_grants_of_page`),
    else an awaitable of them: 50 rows need not await 50 times."""
    fetched = info.context.access.grants_fetched(holder_id, active_only)
    if fetched is None:
        return grants_of_holder(info, holder_id, active_only=active_only)
    if isinstance(fetched, (BackendUnavailable, BackendProblem)):
        raise unavailable_field(fetched)
    if isinstance(fetched, BaseException):
        raise fetched
    return [Grant.of(g) for g in fetched]


async def grants_of_account(info: Info, account_id: str, *, active_only: bool) -> list[Grant]:
    try:
        found = await info.context.access.grants_of_account(active_only).load(account_id)
    except (BackendUnavailable, BackendProblem) as exc:
        raise unavailable_field(exc) from None
    return [Grant.of(g) for g in found]


# --- accounts -----------------------------------------------------------------------------------
@strawberry.type(description="Limits that come with an account's classification.")
class AccountPolicy:
    max_grant_days: int
    rotate_after_checkout: bool
    secret_max_age_days: int


@strawberry.type(description="A company social account, its owners and who holds access.")
class Account:
    id: strawberry.ID
    network: SocialNetwork
    handle: str
    url: str | None
    unit_id: strawberry.ID
    purpose: str | None
    classification: Classification
    status: str = strawberry.field(description="active or archived")
    owner_ids: list[strawberry.ID]
    coverage_low: bool = strawberry.field(description="fewer than two active owners")
    policy: AccountPolicy
    has_connector: bool
    registered_at: datetime
    registered_by: strawberry.ID
    version: int

    @classmethod
    def of(cls, raw: Json) -> Account:
        policy = raw.get("policy") or {}
        return cls(
            id=strawberry.ID(raw["id"]),
            network=SocialNetwork(raw["network"]),
            handle=raw["handle"],
            url=raw.get("url"),
            unit_id=strawberry.ID(raw["unit_id"]),
            purpose=raw.get("purpose"),
            classification=Classification(raw["classification"]),
            status=raw.get("status", "active"),
            owner_ids=[strawberry.ID(o) for o in raw.get("owners", [])],
            coverage_low=bool(raw.get("coverage_low")),
            policy=AccountPolicy(
                max_grant_days=int(policy.get("max_grant_days", 0)),
                rotate_after_checkout=bool(policy.get("rotate_after_checkout")),
                secret_max_age_days=int(policy.get("secret_max_age_days", 0)),
            ),
            has_connector=bool(raw.get("has_connector")),
            registered_at=_at(raw["registered_at"]),
            registered_by=strawberry.ID(raw["registered_by"]),
            version=int(raw.get("sequence", 0)),
        )

    @strawberry.field(description="How many active owners it has (two or more is covered).")
    def coverage(self) -> int:
        return len(self.owner_ids)

    @strawberry.field(description="The active owners (those you may see).", metadata={"cost": 2})
    async def owners(self, info: Info) -> list[Employee]:
        return await load_employees(info, [str(o) for o in self.owner_ids])

    @strawberry.field(description="The org unit that owns the account.")
    def unit(self, info: Info) -> OrgUnit | None:
        return unit_of(info, self.unit_id)  # type: ignore[no-any-return]

    @strawberry.field(
        description="Grants on the account you may see (owners, admins and auditors over "
        "its unit see all; others only their own).",
        metadata={"cost": 2, "list_size": 10},
    )
    async def grants(self, info: Info, active_only: bool = True) -> list[Grant] | None:
        return await grants_of_account(info, self.id, active_only=active_only)


@strawberry.type
class AccountEdge:
    cursor: str
    node: Account


@strawberry.type(description="A page of accounts (Relay connection, forward paging).")
class AccountConnection:
    edges: list[AccountEdge] = strawberry.field(metadata={"list_size": 1})
    page_info: PageInfo

    @strawberry.field(metadata={"list_size": 1})
    def nodes(self) -> list[Account]:
        return [e.node for e in self.edges]


# --- grants and requests -------------------------------------------------------------------------
@strawberry.type(description="A role on an account for a time: `[grantedAt, end)`.")
class Grant:
    id: strawberry.ID
    account_id: strawberry.ID
    account_unit_id: strawberry.ID
    holder_id: strawberry.ID
    role: AccountRole
    granted_at: datetime
    granted_by: str
    expires_at: datetime | None = strawberry.field(description="none only for owners")
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    offboarding_id: strawberry.ID | None
    request_id: strawberry.ID | None
    active: bool = strawberry.field(description="active now")

    @classmethod
    def of(cls, raw: Json) -> Grant:
        return cls(
            id=strawberry.ID(raw["id"]),
            account_id=strawberry.ID(raw["account_id"]),
            account_unit_id=strawberry.ID(raw["account_unit_id"]),
            holder_id=strawberry.ID(raw["holder_id"]),
            role=AccountRole(raw["role"]),
            granted_at=_at(raw["granted_at"]),
            granted_by=raw["granted_by"],
            expires_at=_when(raw.get("expires_at")),
            revoked_at=_when(raw.get("revoked_at")),
            revoked_by=raw.get("revoked_by"),
            revoke_reason=raw.get("revoke_reason"),
            offboarding_id=_id(raw.get("offboarding_id")),
            request_id=_id(raw.get("request_id")),
            active=bool(raw.get("active")),
        )

    @strawberry.field(description="Who holds it (if you may see them).")
    async def holder(self, info: Info) -> Employee | None:
        return await load_employee(info, self.holder_id)

    @strawberry.field(description="The account it is on.")
    async def account(self, info: Info) -> Account | None:
        return await load_account(info, self.account_id)


@strawberry.type(description="Someone asks for a role on an account; its owners decide.")
class AccessRequest:
    id: strawberry.ID
    account_id: strawberry.ID
    account_unit_id: strawberry.ID
    requester_id: strawberry.ID
    role: AccountRole
    justification: str
    duration_seconds: int | None = strawberry.field(description="none: the account's maximum")
    decider_ids: list[strawberry.ID] = strawberry.field(
        description="who may decide: the account's owners, not the requester"
    )
    status: AccessRequestStatus
    requested_at: datetime
    decided_at: datetime | None
    decided_by: strawberry.ID | None
    decision_reason: str | None
    grant_id: strawberry.ID | None

    @classmethod
    def of(cls, raw: Json) -> AccessRequest:
        return cls(
            id=strawberry.ID(raw["id"]),
            account_id=strawberry.ID(raw["account_id"]),
            account_unit_id=strawberry.ID(raw["account_unit_id"]),
            requester_id=strawberry.ID(raw["requester_id"]),
            role=AccountRole(raw["role"]),
            justification=raw["justification"],
            duration_seconds=raw.get("duration_seconds"),
            decider_ids=[strawberry.ID(d) for d in raw.get("deciders", [])],
            status=AccessRequestStatus(raw["status"]),
            requested_at=_at(raw["requested_at"]),
            decided_at=_when(raw.get("decided_at")),
            decided_by=_id(raw.get("decided_by")),
            decision_reason=raw.get("decision_reason"),
            grant_id=_id(raw.get("grant_id")),
        )

    @strawberry.field(description="Who asks (if you may see them).")
    async def requester(self, info: Info) -> Employee | None:
        return await load_employee(info, self.requester_id)

    @strawberry.field
    async def account(self, info: Info) -> Account | None:
        return await load_account(info, self.account_id)


@strawberry.type(description="A request decided, and the grant it made (if approved).")
class AccessDecision:
    request: AccessRequest
    grant: Grant | None


@strawberry.type(description="A page of access requests, in id order.")
class AccessRequestPage:
    nodes: list[AccessRequest] = strawberry.field(metadata={"list_size": 1})
    page_info: PageInfo


# --- the vault ----------------------------------------------------------------------------------
@strawberry.type(description="A check-out of a shared credential; never the secret itself.")
class Lease:
    id: strawberry.ID
    account_id: strawberry.ID
    secret_id: strawberry.ID
    kind: SecretKind
    secret_version: int
    holder_id: strawberry.ID
    status: LeaseStatus
    checked_out_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    ended_because: str | None
    ended_by: str | None
    offboarding_id: strawberry.ID | None

    @classmethod
    def of(cls, raw: Json) -> Lease:
        return cls(
            id=strawberry.ID(raw["lease_id"]),
            account_id=strawberry.ID(raw["account_id"]),
            secret_id=strawberry.ID(raw["secret_id"]),
            kind=SecretKind(raw["kind"]),
            secret_version=int(raw["version"]),
            holder_id=strawberry.ID(raw["holder_id"]),
            status=LeaseStatus(raw["status"]),
            checked_out_at=_at(raw["checked_out_at"]),
            expires_at=_at(raw["expires_at"]),
            ended_at=_when(raw.get("ended_at")),
            ended_because=raw.get("ended_because"),
            ended_by=raw.get("ended_by"),
            offboarding_id=_id(raw.get("offboarding_id")),
        )

    @strawberry.field
    async def account(self, info: Info) -> Account | None:
        return await load_account(info, self.account_id)

    @strawberry.field
    async def holder(self, info: Info) -> Employee | None:
        return await load_employee(info, self.holder_id)


@strawberry.type(
    description="The secret of a check-out, shown this once (for a TOTP seed: the current "
    "code, never the seed). Not cached or logged anywhere; copy it now."
)
class Credential:
    kind: SecretKind
    value: str | None
    codes: list[str] | None
    totp_code: str | None
    code_valid_until: datetime | None


@strawberry.type(description="A credential checked out: the lease, and the secret once.")
class CredentialCheckOut:
    lease: Lease
    secret: Credential

    @classmethod
    def of(cls, raw: Json) -> CredentialCheckOut:
        given = raw["secret"]
        return cls(
            lease=Lease.of(raw["lease"]),
            secret=Credential(
                kind=SecretKind(given["kind"]),
                value=given.get("value"),
                codes=given.get("codes"),
                totp_code=given.get("totp_code"),
                code_valid_until=_when(given.get("code_valid_until")),
            ),
        )


@strawberry.type
class SecretVersion:
    version: int
    created_at: datetime
    created_by: str


@strawberry.type(description="A stored secret's metadata; never a value of any version.")
class SecretMetadata:
    id: strawberry.ID
    account_id: strawberry.ID
    kind: SecretKind
    current_version: int
    rotated_at: datetime
    rotation_required: bool
    versions: list[SecretVersion] = strawberry.field(metadata={"list_size": 5})

    @classmethod
    def of(cls, raw: Json) -> SecretMetadata:
        return cls(
            id=strawberry.ID(raw["secret_id"]),
            account_id=strawberry.ID(raw["account_id"]),
            kind=SecretKind(raw["kind"]),
            current_version=int(raw["current_version"]),
            rotated_at=_at(raw["rotated_at"]),
            rotation_required=bool(raw.get("rotation_required")),
            versions=[
                SecretVersion(
                    version=int(v["version"]),
                    created_at=_at(v["created_at"]),
                    created_by=v["created_by"],
                )
                for v in raw.get("versions", [])
            ],
        )


# --- reviews ------------------------------------------------------------------------------------
@strawberry.type(description="One grant in a review campaign, and what its reviewers decided.")
class AccessReviewItem:
    review_id: strawberry.ID
    grant_id: strawberry.ID
    account_id: strawberry.ID
    account_unit_id: strawberry.ID
    network: str
    handle: str
    holder_id: strawberry.ID
    role: AccountRole
    granted_at: datetime
    expires_at: datetime | None
    reviewer_ids: list[strawberry.ID]
    decision: ReviewDecision | None
    decided_by: strawberry.ID | None
    decided_at: datetime | None
    comment: str | None
    outcome: ReviewOutcome | None
    settled_at: datetime | None

    @classmethod
    def of(cls, raw: Json) -> AccessReviewItem:
        return cls(
            review_id=strawberry.ID(raw["review_id"]),
            grant_id=strawberry.ID(raw["grant_id"]),
            account_id=strawberry.ID(raw["account_id"]),
            account_unit_id=strawberry.ID(raw["account_unit_id"]),
            network=raw["network"],
            handle=raw["handle"],
            holder_id=strawberry.ID(raw["holder_id"]),
            role=AccountRole(raw["role"]),
            granted_at=_at(raw["granted_at"]),
            expires_at=_when(raw.get("expires_at")),
            reviewer_ids=[strawberry.ID(r) for r in raw.get("reviewers", [])],
            decision=ReviewDecision(raw["decision"]) if raw.get("decision") else None,
            decided_by=_id(raw.get("decided_by")),
            decided_at=_when(raw.get("decided_at")),
            comment=raw.get("comment"),
            outcome=ReviewOutcome(raw["outcome"]) if raw.get("outcome") else None,
            settled_at=_when(raw.get("settled_at")),
        )

    @strawberry.field
    async def holder(self, info: Info) -> Employee | None:
        return await load_employee(info, self.holder_id)

    @strawberry.field
    async def account(self, info: Info) -> Account | None:
        return await load_account(info, self.account_id)


@strawberry.type(description="A page of review items.")
class AccessReviewItemPage:
    nodes: list[AccessReviewItem] = strawberry.field(metadata={"list_size": 1})
    page_info: PageInfo


@strawberry.type(
    description="A review campaign: owners confirm or revoke each grant by a deadline."
)
class AccessReview:
    id: strawberry.ID
    unit_id: strawberry.ID | None = strawberry.field(description="none: every account")
    status: AccessReviewStatus
    deadline: datetime
    undecided: UndecidedAction = strawberry.field(description="what happens to undecided grants")
    started_by: strawberry.ID
    started_at: datetime
    item_count: int
    reminders_sent: int
    confirmed: int
    revoked: int
    undecided_count: int
    closed_at: datetime | None

    @classmethod
    def of(cls, raw: Json) -> AccessReview:
        return cls(
            id=strawberry.ID(raw["id"]),
            unit_id=_id(raw.get("unit_id")),
            status=AccessReviewStatus(raw["status"]),
            deadline=_at(raw["deadline"]),
            undecided=UndecidedAction(raw["undecided"]),
            started_by=strawberry.ID(raw["started_by"]),
            started_at=_at(raw["started_at"]),
            item_count=int(raw["items"]),
            reminders_sent=int(raw.get("reminders_sent", 0)),
            confirmed=int(raw.get("confirmed", 0)),
            revoked=int(raw.get("revoked", 0)),
            undecided_count=int(raw.get("undecided_count", 0)),
            closed_at=_when(raw.get("closed_at")),
        )

    @strawberry.field(
        description="The campaign's grants you may see (`mine`: those you review; `pending`: "
        "undecided ones).",
        metadata={"cost": 5},
    )
    async def items(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        mine: bool = False,
        pending: bool = False,
    ) -> AccessReviewItemsResult:
        from gateway.access.queries import review_items  # the queries build on these types

        return await review_items(
            info, self.id, first=first, after=after, mine=mine, pending=pending
        )


@strawberry.type(description="A page of review campaigns.")
class AccessReviewPage:
    nodes: list[AccessReview] = strawberry.field(metadata={"list_size": 1})
    page_info: PageInfo


# --- reports ------------------------------------------------------------------------------------
@strawberry.type(description="One grant in the access report: who had which access when.")
class AccessReportRow:
    account_id: strawberry.ID
    network: str | None
    handle: str | None
    account_unit_id: strawberry.ID
    holder_id: strawberry.ID
    holder_email: str | None
    holder_status: str | None
    role: AccountRole
    grant_id: strawberry.ID
    granted_at: datetime
    granted_by: str
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, raw: Json) -> AccessReportRow:
        return cls(
            account_id=strawberry.ID(raw["account_id"]),
            network=raw.get("network"),
            handle=raw.get("handle"),
            account_unit_id=strawberry.ID(raw["account_unit_id"]),
            holder_id=strawberry.ID(raw["holder_id"]),
            holder_email=raw.get("holder_email"),
            holder_status=raw.get("holder_status"),
            role=AccountRole(raw["role"]),
            grant_id=strawberry.ID(raw["grant_id"]),
            granted_at=_at(raw["granted_at"]),
            granted_by=raw["granted_by"],
            expires_at=_when(raw.get("expires_at")),
            revoked_at=_when(raw.get("revoked_at")),
        )

    @strawberry.field
    async def holder(self, info: Info) -> Employee | None:
        return await load_employee(info, self.holder_id)


@strawberry.type(description="Who had which access at a moment (admins and auditors).")
class AccessReport:
    at: datetime
    rows: list[AccessReportRow] = strawberry.field(metadata={"list_size": 1})
    page_info: PageInfo


@strawberry.type(description="Someone who left yet still holds access (must never happen).")
class FormerStaffEntry:
    person_id: strawberry.ID
    email: str | None
    unit_id: strawberry.ID | None
    employed_until: datetime | None
    open_grants: list[Grant] = strawberry.field(metadata={"list_size": 3})
    pending_connector_revocations: int


@strawberry.type(description="Former staff with access: the list must be empty.")
class FormerStaffReport:
    people: list[FormerStaffEntry] = strawberry.field(metadata={"list_size": 5})
    open_grants: int
    unacknowledged_connector_calls: int

    @classmethod
    def of(cls, raw: Json) -> FormerStaffReport:
        return cls(
            people=[
                FormerStaffEntry(
                    person_id=strawberry.ID(p["person_id"]),
                    email=p.get("email"),
                    unit_id=_id(p.get("unit_id")),
                    employed_until=_when(p.get("employed_until")),
                    open_grants=[Grant.of(g) for g in p.get("open_grants", [])],
                    pending_connector_revocations=int(p.get("pending_connector_revocations", 0)),
                )
                for p in raw.get("people", [])
            ],
            open_grants=int(raw.get("open_grants", 0)),
            unacknowledged_connector_calls=int(raw.get("unacknowledged_connector_calls", 0)),
        )


# --- my access ----------------------------------------------------------------------------------
@strawberry.type(description="Your own grants, check-outs and requests.")
class MyAccess:
    person_id: strawberry.ID

    @strawberry.field(metadata={"cost": 2, "list_size": 10})
    async def grants(self, info: Info, active_only: bool = True) -> list[Grant] | None:
        return await grants_of_holder(info, self.person_id, active_only=active_only)

    @strawberry.field(
        description="Your check-outs (open ones unless asked otherwise), newest first; "
        "never a secret.",
        metadata={"cost": 2, "list_size": 5},
    )
    async def leases(self, info: Info, open_only: bool = True) -> list[Lease] | None:
        try:
            found = await info.context.access.leases_of_holder(open_only).load(self.person_id)
        except (BackendUnavailable, BackendProblem) as exc:
            raise unavailable_field(exc) from None
        return [Lease.of(x) for x in found]

    @strawberry.field(description="Your own requests, newest last.", metadata={"cost": 2})
    async def requests(
        self, info: Info, status: AccessRequestStatus | None = None
    ) -> list[AccessRequest] | None:
        try:
            page = await info.context.services.access.list_requests(
                info.context.bearer,
                requester_id=self.person_id,
                status=status.value if status else None,
                limit=200,
            )
        except (BackendUnavailable, BackendProblem) as exc:
            raise unavailable_field(exc) from None
        return [AccessRequest.of(r) for r in page.get("items", [])]


AccountResult = Annotated[
    Account | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("AccountResult"),
]
AccountConnectionResult = Annotated[
    AccountConnection | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("AccountConnectionResult"),
]
GrantResult = Annotated[
    Grant | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("GrantResult"),
]
AccessRequestResult = Annotated[
    AccessRequest | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("AccessRequestResult"),
]
AccessDecisionResult = Annotated[
    AccessDecision | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("AccessDecisionResult"),
]
AccessRequestPageResult = Annotated[
    AccessRequestPage | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("AccessRequestPageResult"),
]
LeaseResult = Annotated[
    Lease | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("LeaseResult"),
]
CredentialCheckOutResult = Annotated[
    CredentialCheckOut | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("CredentialCheckOutResult"),
]
SecretResult = Annotated[
    SecretMetadata | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("SecretResult"),
]
AccessReviewResult = Annotated[
    AccessReview | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("AccessReviewResult"),
]
AccessReviewPageResult = Annotated[
    AccessReviewPage | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("AccessReviewPageResult"),
]
AccessReviewItemResult = Annotated[
    AccessReviewItem | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("AccessReviewItemResult"),
]
AccessReviewItemsResult = Annotated[
    AccessReviewItemPage | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("AccessReviewItemsResult"),
]
AccessReportResult = Annotated[
    AccessReport | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("AccessReportResult"),
]
FormerStaffResult = Annotated[
    FormerStaffReport | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("FormerStaffResult"),
]
