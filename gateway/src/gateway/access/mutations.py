"""Access's mutations: accounts and owners, requests and grants, the vault, reviews.

Each forwards the caller's token to access (which decides who may) and answers a typed
result: the changed object, or why not. Secrets (a check-out's answer, a new version
recorded) only pass through: they are not logged, cached or kept, and must arrive as
variables, never written into the query text (which parser caches and persisted
queries keep).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from graphql import ObjectValueNode, VariableNode

from chorus_kit.events.access import AccountRole, Classification, SecretKind
from chorus_kit.events.identity import SocialNetwork
from gateway.access.types import (
    AccessDecision,
    AccessDecisionResult,
    AccessRequest,
    AccessRequestResult,
    AccessReview,
    AccessReviewItem,
    AccessReviewItemResult,
    AccessReviewResult,
    Account,
    AccountResult,
    CredentialCheckOut,
    CredentialCheckOutResult,
    Grant,
    GrantResult,
    Lease,
    LeaseResult,
    ReviewDecision,
    SecretMetadata,
    SecretResult,
    UndecidedAction,
)
from gateway.access.visibility import Kind, Target, action_refusal
from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.problems import ProblemResult, from_backend, invalid

Json = dict[str, Any]
T = TypeVar("T")


@strawberry.input
class RegisterAccountInput:
    network: SocialNetwork
    handle: str
    unit_id: strawberry.ID
    classification: Classification
    owner_ids: list[strawberry.ID] = strawberry.field(
        description="the first owners: active staff of the unit"
    )
    url: str | None = None
    purpose: str | None = None

    def body(self) -> Json:
        body: Json = {
            "network": SocialNetwork(self.network).value,
            "handle": self.handle,
            "unit_id": str(self.unit_id),
            "classification": Classification(self.classification).value,
            "owners": [str(o) for o in self.owner_ids],
            "url": self.url,
            "purpose": self.purpose,
        }
        return {k: v for k, v in body.items() if v is not None}


@strawberry.input
class RequestAccessInput:
    account_id: strawberry.ID
    role: AccountRole
    justification: str
    duration_days: int | None = None
    duration_seconds: int | None = None

    def body(self) -> Json:
        body: Json = {
            "account_id": str(self.account_id),
            "role": AccountRole(self.role).value,
            "justification": self.justification,
            "duration_days": self.duration_days,
            "duration_seconds": self.duration_seconds,
        }
        return {k: v for k, v in body.items() if v is not None}


@strawberry.input
class TotpInput:
    digits: int = 6
    period_seconds: int = 30
    algorithm: str = "SHA1"


@strawberry.input(
    description="A secret's new version: `value` (password, API token, TOTP seed in base32) "
    "or `codes` (recovery codes). Pass it as a variable, never in the query text."
)
class SecretVersionInput:
    value: str | None = None
    codes: list[str] | None = None
    totp: TotpInput | None = None

    def body(self) -> Json:
        body: Json = {}
        if self.value is not None:
            body["value"] = self.value
        if self.codes is not None:
            body["codes"] = self.codes
        if self.totp is not None:
            body["totp"] = {
                "digits": self.totp.digits,
                "period_seconds": self.totp.period_seconds,
                "algorithm": self.totp.algorithm,
            }
        return body


@strawberry.input
class StartAccessReviewInput:
    undecided: UndecidedAction = strawberry.field(
        description="what happens to grants nobody decided by the deadline"
    )
    unit_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="the unit whose accounts (and its subtree's) are reviewed; none: every account",
    )
    deadline: datetime | None = None
    duration_seconds: int | None = None

    def body(self) -> Json:
        body: Json = {
            "undecided": UndecidedAction(self.undecided).value,
            "unit_id": str(self.unit_id) if self.unit_id else None,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "duration_seconds": self.duration_seconds,
        }
        return {k: v for k, v in body.items() if v is not None}


async def _write(
    info: Info,
    call: Callable[[str], Awaitable[Json]],
    shape: Callable[[Json], T],
    target: Target | None = None,
) -> T | ProblemResult:
    """`target`: the object the action is about; a caller who may not see it gets
    `NotFound`, never a `Forbidden` that would tell it exists (`gateway.access.visibility`)."""
    try:
        raw = await call(info.context.bearer)
    except (BackendUnavailable, BackendProblem) as exc:
        if target is None:
            return from_backend(exc)
        return await action_refusal(info, exc, target)
    return shape(raw)


def _secret_inline(info: Info, argument: str) -> bool:
    """True if the argument is written into the query text rather than sent as a variable
    (the text is kept by the parser cache and by persisted queries)."""
    for node in info._raw_info.field_nodes:  # noqa: SLF001 - the query's own syntax
        for arg in node.arguments or ():
            if arg.name.value == argument and not isinstance(arg.value, VariableNode):
                if isinstance(arg.value, ObjectValueNode):
                    return any(
                        not isinstance(f.value, VariableNode) and f.name.value in ("value", "codes")
                        for f in arg.value.fields
                    )
                return True
    return False


def _owners_changed(info: Info) -> Callable[[Json], Account]:
    """After an ownership change: the account as answered, and no cached grants (an owner
    is an owner grant)."""

    def remembered(raw: Json) -> Account:
        info.context.access.remember_account(raw)
        info.context.access.forget_grants()
        return Account.of(raw)

    return remembered


@strawberry.type
class AccessMutation:
    # --- accounts ----------------------------------------------------------------------------
    @strawberry.mutation(description="Register a company account with its first owners.")
    async def register_account(self, info: Info, input: RegisterAccountInput) -> AccountResult:
        access = info.context.services.access

        def remembered(raw: Json) -> Account:
            info.context.access.remember_account(raw)
            return Account.of(raw)

        return await _write(
            info, lambda token: access.register_account(token, input.body()), remembered
        )

    @strawberry.mutation(description="Make someone an owner (admins over the unit, or owners).")
    async def add_owner(
        self, info: Info, account_id: strawberry.ID, person_id: strawberry.ID
    ) -> AccountResult:
        access = info.context.services.access
        remembered = _owners_changed(info)
        return await _write(
            info,
            lambda token: access.add_owner(token, str(account_id), str(person_id)),
            remembered,
            Target(Kind.ACCOUNT, str(account_id)),
        )

    @strawberry.mutation(description="End someone's ownership (admins over the unit).")
    async def remove_owner(
        self,
        info: Info,
        account_id: strawberry.ID,
        person_id: strawberry.ID,
        reason: str | None = None,
    ) -> AccountResult:
        access = info.context.services.access
        remembered = _owners_changed(info)
        return await _write(
            info,
            lambda token: access.remove_owner(token, str(account_id), str(person_id), reason),
            remembered,
            Target(Kind.ACCOUNT, str(account_id)),
        )

    # --- requests and grants -----------------------------------------------------------------
    @strawberry.mutation(description="Ask for a role on an account; its owners decide.")
    async def request_access(self, info: Info, input: RequestAccessInput) -> AccessRequestResult:
        access = info.context.services.access
        return await _write(
            info,
            lambda token: access.request_access(token, input.body()),
            AccessRequest.of,
            Target(Kind.ACCOUNT, str(input.account_id)),
        )

    @strawberry.mutation(description="Approve a request on an account you own (not your own).")
    async def approve_access_request(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> AccessDecisionResult:
        return await _decide(info, str(id), "approve", reason)

    @strawberry.mutation(description="Deny a request on an account you own.")
    async def deny_access_request(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> AccessDecisionResult:
        return await _decide(info, str(id), "deny", reason)

    @strawberry.mutation(
        description="End a grant now (owners or admins; holders may give up their own)."
    )
    async def revoke_grant(self, info: Info, id: strawberry.ID, reason: str) -> GrantResult:
        access = info.context.services.access

        def revoked(raw: Json) -> Grant:
            info.context.access.forget_grants()
            return Grant.of(raw)

        return await _write(
            info,
            lambda token: access.revoke_grant(token, str(id), reason),
            revoked,
            Target(Kind.GRANT, str(id)),
        )

    # --- the vault ---------------------------------------------------------------------------
    @strawberry.mutation(
        description="Check out an account's credential, as an owner or a publisher with an "
        "active grant. Answers the lease, and the secret shown this once, never again.",
    )
    async def check_out_credential(
        self, info: Info, account_id: strawberry.ID, kind: SecretKind, minutes: int | None = None
    ) -> CredentialCheckOutResult:
        access = info.context.services.access

        def checked_out(raw: Json) -> CredentialCheckOut:
            info.context.access.forget_leases()
            return CredentialCheckOut.of(raw)

        return await _write(
            info,
            lambda token: access.check_out(token, str(account_id), SecretKind(kind).value, minutes),
            checked_out,
            Target(Kind.ACCOUNT, str(account_id)),
        )

    @strawberry.mutation(description="Return a checked-out credential (the holder or an owner).")
    async def check_in_credential(self, info: Info, lease_id: strawberry.ID) -> LeaseResult:
        access = info.context.services.access

        def checked_in(raw: Json) -> Lease:
            info.context.access.forget_leases()
            return Lease.of(raw)

        return await _write(
            info,
            lambda token: access.check_in(token, str(lease_id)),
            checked_in,
            Target(Kind.LEASE, str(lease_id)),
        )

    @strawberry.mutation(
        description="Record a secret's new version after rotating it on the network (owners); "
        "clears its rotation flags. Send the secret as a variable."
    )
    async def record_secret_rotation(
        self, info: Info, account_id: strawberry.ID, kind: SecretKind, input: SecretVersionInput
    ) -> SecretResult:
        if _secret_inline(info, "input"):
            return invalid(
                "send the secret as a variable, not in the query text",
                code="secret_in_query",
                path="input",
            )
        access = info.context.services.access
        return await _write(
            info,
            lambda token: access.record_secret(
                token, str(account_id), SecretKind(kind).value, input.body()
            ),
            SecretMetadata.of,
            Target(Kind.ACCOUNT, str(account_id)),
        )

    # --- reviews -----------------------------------------------------------------------------
    @strawberry.mutation(description="Start a review campaign (admins over the unit).")
    async def start_access_review(
        self, info: Info, input: StartAccessReviewInput
    ) -> AccessReviewResult:
        access = info.context.services.access
        return await _write(
            info, lambda token: access.start_review(token, input.body()), AccessReview.of
        )

    @strawberry.mutation(
        description="Confirm or revoke one grant in a campaign (its reviewers, never its "
        "holder); revoking ends the grant at once."
    )
    async def decide_access_review_item(
        self,
        info: Info,
        review_id: strawberry.ID,
        grant_id: strawberry.ID,
        decision: ReviewDecision,
        comment: str | None = None,
    ) -> AccessReviewItemResult:
        access = info.context.services.access
        body: Json = {"decision": ReviewDecision(decision).value}
        if comment is not None:
            body["comment"] = comment

        def decided(raw: Json) -> AccessReviewItem:
            info.context.access.forget_grants()
            return AccessReviewItem.of(raw)

        return await _write(
            info,
            lambda token: access.decide_review_item(token, str(review_id), str(grant_id), body),
            decided,
            Target(Kind.REVIEW, str(review_id)),
        )


async def _decide(
    info: Info, request_id: str, verdict: str, reason: str | None
) -> AccessDecision | ProblemResult:
    access = info.context.services.access

    def decided(raw: Json) -> AccessDecision:
        info.context.access.forget_grants()
        grant = raw.get("grant")
        return AccessDecision(
            request=AccessRequest.of(raw["request"]), grant=Grant.of(grant) if grant else None
        )

    return await _write(
        info,
        lambda token: access.decide_request(token, request_id, verdict, reason),
        decided,
        Target(Kind.REQUEST, request_id),
    )


__all__ = ["AccessMutation"]
