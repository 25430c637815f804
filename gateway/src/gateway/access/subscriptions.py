"""Access's live events: an offboarding completed (what was revoked, handed over, flagged),
a grant expiring soon, an access request waiting for me, an account below two owners, a
review due. Each reaches only those access's own rules let see it (`gateway.permissions`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from chorus_kit.events.access import (
    AccessRequested,
    AccountRole,
    CoverageLow,
    GrantExpiring,
    OffboardingCompleted,
    ReviewReminderDue,
)
from chorus_kit.events.catalogue import event_type
from chorus_kit.events.envelope import Event
from chorus_kit.events.identity import SocialNetwork
from gateway.access.types import AccessReview, Account, load_account, load_employees
from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.identity.types import Employee, load_employee
from gateway.permissions import (
    may_administer,
    may_decide_request,
    may_see_coverage_alert,
    may_see_grant_notice,
    may_see_offboarding,
)
from gateway.streams import live_events

OFFBOARDING_COMPLETED = event_type("chorus.access.offboarding.completed")
GRANT_EXPIRING = event_type("chorus.access.grant.expiring")
ACCESS_REQUESTED = event_type("chorus.access.grant.requested")
COVERAGE_LOW = event_type("chorus.access.account.coverage_low")
REVIEW_REMINDER_DUE = event_type("chorus.access.review.reminder_due")


@strawberry.type
class OwnershipHandover:
    account_id: strawberry.ID
    from_id: strawberry.ID
    to_id: strawberry.ID | None = strawberry.field(
        description="none: nobody eligible, an alert was raised"
    )


@strawberry.type(description="Everything access did for one leaver (or mover).")
class OffboardingCompletion:
    offboarding_id: strawberry.ID
    person_id: strawberry.ID
    trigger: str = strawberry.field(description="offboarded, suspended or moved")
    grants_revoked: list[strawberry.ID]
    leases_ended: list[strawberry.ID]
    secrets_flagged: list[strawberry.ID]
    ownership: list[OwnershipHandover]
    connector_calls: int
    completed_at: datetime

    @strawberry.field(description="The person (if you may see them).")
    async def person(self, info: Info) -> Employee | None:
        return await load_employee(info, self.person_id)

    @classmethod
    def of(cls, done: OffboardingCompleted) -> OffboardingCompletion:
        return cls(
            offboarding_id=strawberry.ID(done.offboarding_id),
            person_id=strawberry.ID(done.person_id),
            trigger=done.trigger,
            grants_revoked=[strawberry.ID(g) for g in done.grants_revoked],
            leases_ended=[strawberry.ID(x) for x in done.leases_ended],
            secrets_flagged=[strawberry.ID(s) for s in done.secrets_flagged],
            ownership=[
                OwnershipHandover(
                    account_id=strawberry.ID(h.account_id),
                    from_id=strawberry.ID(h.from_id),
                    to_id=strawberry.ID(h.to_id) if h.to_id else None,
                )
                for h in done.ownership
            ],
            connector_calls=done.connector_calls,
            completed_at=done.completed_at,
        )


async def _unit_path(info: Info, person_id: str) -> list[str] | None:
    """The leaver's unit and its ancestors: from the employee events this replica saw,
    else from identity (with the subscriber's token: what they may not read, they miss)."""
    known = info.context.services.hub.unit_path_of(person_id)
    if known is not None:
        return list(known)
    try:
        raw = await info.context.identity.load(person_id)
    except (BackendUnavailable, BackendProblem):
        return None
    return list(raw.get("unit_path") or [raw["unit_id"]]) if raw else None


@strawberry.type(description="A grant ends soon (its holder, the account's owners and admins).")
class GrantExpiringSoon:
    grant_id: strawberry.ID
    account_id: strawberry.ID
    account_unit_id: strawberry.ID
    holder_id: strawberry.ID
    role: AccountRole
    granted_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, data: GrantExpiring) -> GrantExpiringSoon:
        return cls(
            grant_id=strawberry.ID(data.grant_id),
            account_id=strawberry.ID(data.account_id),
            account_unit_id=strawberry.ID(data.account_unit_id),
            holder_id=strawberry.ID(data.holder_id),
            role=data.role,
            granted_at=data.granted_at,
            expires_at=data.expires_at,
        )

    @strawberry.field
    async def holder(self, info: Info) -> Employee | None:
        return await load_employee(info, self.holder_id)

    @strawberry.field
    async def account(self, info: Info) -> Account | None:
        return await load_account(info, self.account_id)


@strawberry.type(description="Someone asks for access to an account you decide for.")
class AccessRequestWaiting:
    request_id: strawberry.ID
    account_id: strawberry.ID
    requester_id: strawberry.ID
    role: AccountRole
    justification: str
    duration_seconds: int | None
    requested_at: datetime

    @classmethod
    def of(cls, event: Event, data: AccessRequested) -> AccessRequestWaiting:
        seconds = data.duration_seconds
        if seconds is None and data.duration_days is not None:
            seconds = data.duration_days * 86_400
        return cls(
            request_id=strawberry.ID(data.request_id),
            account_id=strawberry.ID(data.account_id),
            requester_id=strawberry.ID(data.requester_id),
            role=data.role,
            justification=data.justification,
            duration_seconds=seconds,
            requested_at=event.time,
        )

    @strawberry.field
    async def requester(self, info: Info) -> Employee | None:
        return await load_employee(info, self.requester_id)

    @strawberry.field
    async def account(self, info: Info) -> Account | None:
        return await load_account(info, self.account_id)


@strawberry.type(description="An account has fewer than two active owners.")
class AccountCoverageLow:
    account_id: strawberry.ID
    network: SocialNetwork
    handle: str
    unit_id: strawberry.ID
    active_owners: int
    owner_ids: list[strawberry.ID]

    @classmethod
    def of(cls, data: CoverageLow) -> AccountCoverageLow:
        return cls(
            account_id=strawberry.ID(data.account_id),
            network=data.network,
            handle=data.handle,
            unit_id=strawberry.ID(data.unit_id),
            active_owners=data.active_owners,
            owner_ids=[strawberry.ID(o) for o in data.owners],
        )

    @strawberry.field(description="The remaining owners (those you may see).")
    async def owners(self, info: Info) -> list[Employee]:
        return await load_employees(info, [str(o) for o in self.owner_ids])

    @strawberry.field
    async def account(self, info: Info) -> Account | None:
        return await load_account(info, self.account_id)


@strawberry.type(description="A review campaign still has grants for you to decide.")
class AccessReviewDue:
    review_id: strawberry.ID
    pending: int
    deadline: datetime

    @strawberry.field
    async def review(self, info: Info) -> AccessReview | None:
        try:
            raw = await info.context.services.access.get_review(info.context.bearer, self.review_id)
        except (BackendUnavailable, BackendProblem):
            return None
        return AccessReview.of(raw)


async def _unit_path_of_unit(info: Info, unit_id: str) -> list[str]:
    """A unit and its ancestors (from the request's org tree; the unit alone if identity
    does not answer: admins over an ancestor then miss the event rather than see too much)."""
    try:
        tree = await info.context.identity.tree()
    except (BackendUnavailable, BackendProblem):
        return [unit_id]
    return list(tree.path(unit_id)) if tree.exists(unit_id) else [unit_id]


async def _owners_seen_by(info: Info, account_id: str) -> list[str]:
    """The account's owners as the subscriber may see them (none if they may not)."""
    try:
        raw = await info.context.access.account.load(account_id)
    except (BackendUnavailable, BackendProblem):
        return []
    return list(raw.get("owners", [])) if raw else []


@strawberry.type
class AccessSubscription:
    @strawberry.subscription(
        description="Offboardings completed by access for people in units you administer "
        "or audit, from now on."
    )
    async def offboarding_completed(
        self, info: Info
    ) -> AsyncGenerator[OffboardingCompletion, None]:
        async for event in live_events(info.context, {OFFBOARDING_COMPLETED.type}):
            done = _completion(event)
            path = await _unit_path(info, done.person_id)
            if path is not None and may_see_offboarding(info.context.viewer, unit_path=path):
                yield OffboardingCompletion.of(done)

    @strawberry.subscription(
        description="Grants about to end (sent once, ahead of their end): yours, those on "
        "accounts you own, and those on accounts of units you administer."
    )
    async def grant_expiring_soon(self, info: Info) -> AsyncGenerator[GrantExpiringSoon, None]:
        viewer = info.context.viewer
        async for event in live_events(info.context, {GRANT_EXPIRING.type}):
            data = event.data_as(GrantExpiring)
            path = await _unit_path_of_unit(info, data.account_unit_id)
            owners: list[str] = []
            if viewer.sub != data.holder_id and not may_administer(viewer, path):
                owners = await _owners_seen_by(info, data.account_id)
            if may_see_grant_notice(
                viewer, holder_id=data.holder_id, owners=owners, unit_path=path
            ):
                yield GrantExpiringSoon.of(data)

    @strawberry.subscription(
        description="Access requests you are asked to decide (you own the account), from now on."
    )
    async def access_request_waiting_for_me(
        self, info: Info
    ) -> AsyncGenerator[AccessRequestWaiting, None]:
        viewer = info.context.viewer
        async for event in live_events(info.context, {ACCESS_REQUESTED.type}):
            data = event.data_as(AccessRequested)
            if may_decide_request(viewer, requester_id=data.requester_id, deciders=data.deciders):
                yield AccessRequestWaiting.of(event, data)

    @strawberry.subscription(
        description="Accounts that fell below two active owners: those you own, and those "
        "of units you administer."
    )
    async def account_below_two_owners(
        self, info: Info
    ) -> AsyncGenerator[AccountCoverageLow, None]:
        viewer = info.context.viewer
        async for event in live_events(info.context, {COVERAGE_LOW.type}):
            data = event.data_as(CoverageLow)
            path = await _unit_path_of_unit(info, data.unit_id)
            if may_see_coverage_alert(viewer, owners=data.owners, unit_path=path):
                yield AccountCoverageLow.of(data)

    @strawberry.subscription(
        description="Review campaigns in which you still have grants to decide (reminders)."
    )
    async def access_review_due(self, info: Info) -> AsyncGenerator[AccessReviewDue, None]:
        viewer = info.context.viewer
        async for event in live_events(info.context, {REVIEW_REMINDER_DUE.type}):
            data = event.data_as(ReviewReminderDue)
            if data.owner_id == viewer.sub:
                yield AccessReviewDue(
                    review_id=strawberry.ID(data.review_id),
                    pending=data.pending,
                    deadline=data.deadline,
                )


def _completion(event: Event) -> OffboardingCompleted:
    return event.data_as(OffboardingCompleted)
