"""Access reviews: periodic campaigns in which owners confirm or revoke who holds access.

A campaign covers every account (`unit_id` None) or the accounts of one unit and the
units below it, and is started by an admin over that unit (over the root for all). Its
items are every grant active on an in-scope account at the start, owners' grants
included, each reviewed by the account's *other* owners at that moment (nobody certifies
their own grant). One decision per item, by any of its reviewers, before the deadline; an
item nobody can review (the sole owner's own grant) may be decided by an admin over the
account's unit. Reminders (`reminder_due`, one per reviewer with items still to decide) go
out at fractions of the campaign's time, 50% and 90% by default. At the deadline the
service's scheduler closes the campaign once: undecided grants are revoked or kept per its
`undecided` setting, and `closed` carries the tally.

The item set is a query, not a copy taken under a lock: grants are intervals, so "active
at the start" gives the same answer whenever it is asked, which lets a replica finish a
start whose process died halfway.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from access.domain.aggregate import raising
from access.domain.audit import audited
from access.domain.authorization import READERS, holds_over, require_admin_over
from access.domain.org_view import UnitTree
from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict, Forbidden
from chorus_kit.events import Event
from chorus_kit.events.access import (
    AccountRole,
    ReviewClosed,
    ReviewDecided,
    ReviewReminderDue,
    ReviewStarted,
)
from chorus_kit.events.identity import Role

SYSTEM = "system"
DEFAULT_REMINDERS = (0.5, 0.9)
LONGEST = timedelta(days=366)
# Reasons given to the core's revocation (and so to events, audit and connectors).
REVOKED_BY_REVIEWER = "review_revoked"
REVOKED_UNDECIDED = "review_undecided"


class UndecidedAction(StrEnum):
    REVOKE = "revoke"
    KEEP = "keep"


class ReviewStatus(StrEnum):
    STARTING = "starting"  # items being written; nobody decides yet
    OPEN = "open"
    CLOSED = "closed"


class Decision(StrEnum):
    CONFIRM = "confirm"
    REVOKE = "revoke"


class Outcome(StrEnum):
    """What became of an item's grant."""

    KEPT = "kept"
    REVOKED = "revoked"
    ENDED_BEFORE = "ended_before"  # it had ended (expired, leaver...) before review acted


@dataclass(frozen=True)
class Review:
    id: str
    unit_id: str | None
    deadline: datetime
    undecided_action: UndecidedAction
    started_by: str
    started_at: datetime
    reminder_fractions: tuple[float, ...] = DEFAULT_REMINDERS
    status: ReviewStatus = ReviewStatus.STARTING
    reminders_sent: int = 0
    items: int = 0
    confirmed: int = 0
    revoked: int = 0
    undecided: int = 0
    closed_at: datetime | None = None
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())

    def reminder_at(self, index: int) -> datetime:
        return self.started_at + (self.deadline - self.started_at) * self.reminder_fractions[index]

    @property
    def next_reminder_at(self) -> datetime | None:
        if self.reminders_sent >= len(self.reminder_fractions):
            return None
        return self.reminder_at(self.reminders_sent)

    @property
    def next_check_at(self) -> datetime | None:
        """When the scheduler must look at it next (a reminder or the deadline)."""
        if self.status is ReviewStatus.CLOSED:
            return None
        reminder = self.next_reminder_at
        return min(reminder, self.deadline) if reminder is not None else self.deadline


@dataclass(frozen=True)
class ReviewItem:
    """One grant under review (its own aggregate: owners decide items concurrently)."""

    id: str
    review_id: str
    grant_id: str
    account_id: str
    account_unit_id: str
    network: str
    handle: str
    holder_id: str
    role: AccountRole
    granted_at: datetime
    expires_at: datetime | None
    reviewers: tuple[str, ...]
    decision: Decision | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    outcome: Outcome | None = None
    settled_at: datetime | None = None
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())


def item_id(review_id: str, grant_id: str) -> str:
    return f"{review_id}:{grant_id}"


# --- who may do what --------------------------------------------------------------------------
def require_may_start(principal: Principal, unit_id: str | None, tree: UnitTree) -> None:
    """An admin over the unit starts its campaign; over the root, one for every account."""
    require_admin_over(principal, unit_id or tree.root_id, tree, code="not_admin_of_unit")


def may_read_review(principal: Principal, review: Review, tree: UnitTree) -> bool:
    """Admins and auditors over the campaign's unit (the root for a company-wide one)."""
    return holds_over(principal, READERS, review.unit_id or tree.root_id, tree)


def require_may_decide(
    principal: Principal, review: Review, item: ReviewItem, *, now: datetime, tree: UnitTree
) -> None:
    if review.status is not ReviewStatus.OPEN or now >= review.deadline:
        raise Conflict("the review is not open for decisions", code="review_closed")
    if principal.sub == item.holder_id:
        raise Forbidden("nobody certifies their own grant", code="own_grant")
    if principal.sub in item.reviewers:
        return
    if not item.reviewers and holds_over(principal, (Role.ADMIN,), item.account_unit_id, tree):
        return  # nobody else owns the account: an admin over it decides
    raise Forbidden("only the account's other owners review this grant", code="not_reviewer")


# --- starting ---------------------------------------------------------------------------------
def start(
    *,
    unit_id: str | None,
    deadline: datetime,
    undecided_action: UndecidedAction,
    by: str,
    now: datetime,
    reminder_fractions: Sequence[float] = DEFAULT_REMINDERS,
) -> Review:
    """A campaign being set up (its items come next; `opened` makes it visible)."""
    if deadline <= now:
        raise ChorusError("the deadline must be in the future", code="deadline_in_past")
    if deadline - now > LONGEST:
        raise ChorusError("a review lasts at most a year", code="deadline_too_far")
    fractions = tuple(sorted({f for f in reminder_fractions if 0 < f < 1}))
    return Review(
        id=str(uuid.uuid4()),
        unit_id=unit_id,
        deadline=deadline,
        undecided_action=undecided_action,
        started_by=by,
        started_at=now,
        reminder_fractions=fractions,
    )


@dataclass(frozen=True)
class GrantAtStart:
    """A grant active at the start, with what its item shows of its account."""

    grant_id: str
    account_id: str
    account_unit_id: str
    network: str
    handle: str
    holder_id: str
    role: AccountRole
    granted_at: datetime
    expires_at: datetime | None


def items_for(review: Review, grants: Iterable[GrantAtStart]) -> list[ReviewItem]:
    """One item per grant; its reviewers are the account's owners at the start but its holder."""
    active = list(grants)
    owners: dict[str, list[str]] = {}
    for grant in active:
        if grant.role is AccountRole.OWNER:
            owners.setdefault(grant.account_id, []).append(grant.holder_id)
    return [
        ReviewItem(
            id=item_id(review.id, grant.grant_id),
            review_id=review.id,
            grant_id=grant.grant_id,
            account_id=grant.account_id,
            account_unit_id=grant.account_unit_id,
            network=grant.network,
            handle=grant.handle,
            holder_id=grant.holder_id,
            role=grant.role,
            granted_at=grant.granted_at,
            expires_at=grant.expires_at,
            reviewers=tuple(
                sorted({o for o in owners.get(grant.account_id, ()) if o != grant.holder_id})
            ),
        )
        for grant in sorted(active, key=lambda g: g.grant_id)
    ]


def opened(review: Review, *, items: int) -> Review:
    """Its items written: open for decisions, announced."""
    if review.status is not ReviewStatus.STARTING:
        raise Conflict("the review has started already", code="review_started")
    started = ReviewStarted(
        review_id=review.id,
        unit_id=review.unit_id,
        deadline=review.deadline,
        undecided=review.undecided_action.value,
        items=items,
        started_by=review.started_by,
    )
    after = raising(
        replace(review, status=ReviewStatus.OPEN, items=items),
        ("chorus.access.review.started", started),
        effect=f"{review.id}:started",
    )
    return audited(
        after,
        actor=review.started_by,
        action="review.started",
        target_type="access_review",
        unit_id=review.unit_id,
        effect=f"{review.id}:started",
        details={
            "items": items,
            "deadline": review.deadline.isoformat(),
            "undecided": review.undecided_action.value,
        },
    )


# --- deciding ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecisionRecord:
    """A decision as first recorded (the insert that makes it the only one for its item)."""

    item_id: str
    review_id: str
    grant_id: str
    decision: Decision | None  # None: nobody decided by the deadline
    decided_by: str
    decided_at: datetime
    comment: str | None = None


def decided(item: ReviewItem, record: DecisionRecord) -> ReviewItem:
    """The item with a reviewer's decision, its `decided` event and audit entry. Their ids
    derive from the item, so finishing a decision after a crash writes the same events."""
    if record.decision is None:
        raise ValueError("an undecided record is settled, not decided")
    if item.decision is not None:
        raise Conflict("this grant was decided already", code="already_decided")
    effect = f"{item.id}:decision"
    after = raising(
        replace(
            item,
            decision=record.decision,
            decided_by=record.decided_by,
            decided_at=record.decided_at,
            comment=record.comment,
        ),
        (
            "chorus.access.review.decided",
            ReviewDecided(
                review_id=item.review_id,
                grant_id=item.grant_id,
                decision=record.decision.value,
                decided_by=record.decided_by,
            ),
        ),
        effect=effect,
    )
    return audited(
        after,
        actor=record.decided_by,
        action="review.confirmed" if record.decision is Decision.CONFIRM else "review.revoked",
        target_type="access_review_item",
        unit_id=item.account_unit_id,
        effect=effect,
        details={
            "review_id": item.review_id,
            "grant_id": item.grant_id,
            "holder_id": item.holder_id,
            "account_id": item.account_id,
        },
    )


def must_revoke(decision: Decision | None, undecided_action: UndecidedAction) -> bool:
    """Whether the item's grant goes: revoked by a reviewer, or undecided under `revoke`."""
    if decision is None:
        return undecided_action is UndecidedAction.REVOKE
    return decision is Decision.REVOKE


def revoke_reason(decision: Decision | None) -> str:
    return REVOKED_BY_REVIEWER if decision is Decision.REVOKE else REVOKED_UNDECIDED


def settled(item: ReviewItem, outcome: Outcome, *, now: datetime) -> ReviewItem:
    return replace(item, outcome=outcome, settled_at=now)


# --- reminders and closing --------------------------------------------------------------------
def reminders_due(review: Review, *, now: datetime) -> int:
    """How many reminder thresholds have passed and are unsent (0 past the deadline: then
    the campaign closes instead)."""
    if review.status is not ReviewStatus.OPEN or now >= review.deadline:
        return 0
    passed = sum(1 for i in range(len(review.reminder_fractions)) if review.reminder_at(i) <= now)
    return max(passed - review.reminders_sent, 0)


def pending_by_reviewer(items: Iterable[ReviewItem]) -> dict[str, int]:
    """Undecided items per reviewer."""
    pending: dict[str, int] = {}
    for item in items:
        if item.decision is None and item.outcome is None:
            for reviewer in item.reviewers:
                pending[reviewer] = pending.get(reviewer, 0) + 1
    return pending


def reminded(review: Review, pending: Mapping[str, int], *, up_to: int) -> Review:
    """One `reminder_due` per reviewer with items left, however many thresholds passed."""
    after = replace(review, reminders_sent=up_to)
    for owner, count in sorted(pending.items()):
        if count > 0:
            reminder = ReviewReminderDue(
                review_id=review.id, owner_id=owner, pending=count, deadline=review.deadline
            )
            after = raising(
                after,
                ("chorus.access.review.reminder_due", reminder),
                effect=f"{review.id}:reminder:{up_to}:{owner}",
            )
    return after


def closed(review: Review, items: Iterable[ReviewItem], *, now: datetime) -> Review:
    """Closed with the tally of decisions (what happened to undecided grants: the setting)."""
    if review.status is not ReviewStatus.OPEN:
        raise Conflict("the review is not open", code="review_not_open")
    tally = {"confirm": 0, "revoke": 0, "undecided": 0}
    for item in items:
        tally[item.decision.value if item.decision else "undecided"] += 1
    after = replace(
        review,
        status=ReviewStatus.CLOSED,
        closed_at=now,
        confirmed=tally["confirm"],
        revoked=tally["revoke"],
        undecided=tally["undecided"],
    )
    after = raising(
        after,
        (
            "chorus.access.review.closed",
            ReviewClosed(
                review_id=review.id,
                confirmed=tally["confirm"],
                revoked=tally["revoke"],
                undecided=tally["undecided"],
                undecided_action=review.undecided_action.value,
            ),
        ),
        effect=f"{review.id}:closed",
    )
    return audited(
        after,
        actor=SYSTEM,
        action="review.closed",
        target_type="access_review",
        unit_id=review.unit_id,
        effect=f"{review.id}:closed",
        details={**tally, "undecided_action": review.undecided_action.value},
    )


# --- the report ------------------------------------------------------------------------------
REPORT_COLUMNS = (
    "review_id",
    "grant_id",
    "account_id",
    "network",
    "handle",
    "account_unit_id",
    "holder_id",
    "role",
    "granted_at",
    "expires_at",
    "reviewers",
    "decision",
    "decided_by",
    "decided_at",
    "comment",
    "outcome",
    "settled_at",
)


def report_row(item: ReviewItem) -> dict[str, Any]:
    return {
        "review_id": item.review_id,
        "grant_id": item.grant_id,
        "account_id": item.account_id,
        "network": item.network,
        "handle": item.handle,
        "account_unit_id": item.account_unit_id,
        "holder_id": item.holder_id,
        "role": item.role.value,
        "granted_at": item.granted_at,
        "expires_at": item.expires_at,
        "reviewers": " ".join(item.reviewers),
        "decision": item.decision.value if item.decision else None,
        "decided_by": item.decided_by,
        "decided_at": item.decided_at,
        "comment": item.comment,
        "outcome": item.outcome.value if item.outcome else None,
        "settled_at": item.settled_at,
    }
