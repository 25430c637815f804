"""Access reviews' use cases: start a campaign, decide its items, remind, close at the deadline.

Who may do what: an admin over the campaign's unit starts it (over the root for one over
every account); each item is decided by one of its reviewers (the account's other owners
at the start; an admin over the account's unit when there are none), never by its holder;
admins and auditors over the unit read the campaign, its items and its report; reviewers
read the campaign and the items they review.

Exactly once, across replicas and restarts:
- a decision is first *recorded* (an insert keyed by the item: the only one), then written
  to the item with its `decided` event (ids derived from the item), then, for `revoke`,
  carried out through the core's revocation; the scheduler finishes recorded decisions
  whose writer died;
- reminders and the closing are turns claimed by insert (`TurnClaims`); the closer records
  "undecided" for every item nobody decided (the same insert, so a late decision loses
  cleanly), revokes or keeps per the campaign's setting, then closes it;
- grants end through the core (`GrantHandlers.end_grant`, `AccountHandlers.
  hand_over_ownership` for owners), whose own claims end each grant once, with its event,
  audit entry and connector call.
Worst-case lateness of a reminder or a closing: one scheduler interval plus the writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection

from access.adapters.mongo_store import OrgUnitView
from access.adapters.review_store import ReviewStore
from access.domain import reviews as rules
from access.domain.aggregate import utc_now
from access.domain.authorization import READERS, units_covered
from access.domain.reviews import (
    SYSTEM,
    Decision,
    DecisionRecord,
    Outcome,
    Review,
    ReviewItem,
    ReviewStatus,
    UndecidedAction,
)
from access.handlers import AccountHandlers, GrantHandlers
from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict, Forbidden, NotFound, TransientError
from chorus_kit.events import Event
from chorus_kit.events.access import AccountRole

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 5
PAGE = 200

# Hands a committed write's events to the outbox relay (collection, document id, events).
EventsWritten = Callable[[AsyncCollection[dict[str, Any]], Any, Sequence[Event]], None]


class RevokeGrant(Protocol):
    """Ends an item's grant through the core; None while another caller is still ending it."""

    async def __call__(self, item: ReviewItem, *, actor: str, reason: str) -> Outcome | None: ...


@dataclass
class RevokeThroughCore:
    """The core's own revocation: owners' grants through the account (ownership ends there),
    everyone else's through the grant's one-time end effect."""

    grants: GrantHandlers
    accounts: AccountHandlers

    async def __call__(self, item: ReviewItem, *, actor: str, reason: str) -> Outcome | None:
        if item.role is AccountRole.OWNER:
            account = await self.accounts.accounts.get(item.account_id)
            if account.owner_grant_of(item.holder_id) == item.grant_id:
                await self.accounts.hand_over_ownership(
                    item.account_id,
                    leaving_id=item.holder_id,
                    successor_id=None,
                    actor=actor,
                    reason=reason,
                )
        else:
            try:
                await self.grants.end_grant(item.grant_id, actor=actor, reason=reason)
            except NotFound:
                return Outcome.ENDED_BEFORE
        grant = await self.grants.grants.find(item.grant_id)
        if grant is None:
            return Outcome.ENDED_BEFORE
        if grant.is_open:
            return None  # someone else's end of it is under way; look again later
        return Outcome.REVOKED if grant.revoke_reason == reason else Outcome.ENDED_BEFORE


@dataclass
class ReviewHandlers:
    store: ReviewStore
    units: OrgUnitView
    revoke_grant: RevokeGrant
    events_written: EventsWritten
    reminder_fractions: tuple[float, ...] = rules.DEFAULT_REMINDERS
    close_lease: timedelta = timedelta(minutes=2)
    stale_after: timedelta = timedelta(seconds=30)
    replica: str = "access"
    clock: Callable[[], datetime] = utc_now

    async def prepare(self) -> None:
        await self.store.prepare()

    @property
    def collections(self) -> list[AsyncCollection[dict[str, Any]]]:
        """The collections whose outboxes the relay publishes."""
        return [self.store.reviews, self.store.items]

    # --- starting ---------------------------------------------------------------------------
    async def start_review(
        self,
        *,
        unit_id: str | None,
        deadline: datetime,
        undecided: UndecidedAction,
        by: Principal,
    ) -> Review:
        tree = await self.units.tree()
        if unit_id is not None and not tree.exists(unit_id):
            raise ChorusError(f"no org unit {unit_id}", code="unit_not_found")
        rules.require_may_start(by, unit_id, tree)
        review = rules.start(
            unit_id=unit_id,
            deadline=deadline,
            undecided_action=undecided,
            by=by.sub,
            now=self.clock(),
            reminder_fractions=self.reminder_fractions,
        )
        await self.store.add_review(review)
        return await self._open(review)

    async def _open(self, review: Review) -> Review:
        """Write the items of a starting campaign, then open it (again, harmlessly)."""
        tree = await self.units.tree()
        scope = tree.subtree(review.unit_id) if review.unit_id is not None else None
        grants = await self.store.grants_at_start(scope, review.started_at)
        await self.store.add_items(rules.items_for(review, grants))
        count = await self.store.count_items(review.id)
        opened = rules.opened(review, items=count)
        if await self.store.save_review(
            opened, expected_sequence=review.sequence, expected_status=ReviewStatus.STARTING
        ):
            self.events_written(self.store.reviews, opened.id, opened.pending_events)
            return opened
        return await self.store.get(review.id)

    # --- deciding ---------------------------------------------------------------------------
    async def decide(
        self,
        review_id: str,
        grant_id: str,
        decision: Decision,
        *,
        by: Principal,
        comment: str | None = None,
    ) -> ReviewItem:
        review = await self.store.get(review_id)
        item = await self.store.get_item(review_id, grant_id)
        now = self.clock()
        rules.require_may_decide(by, review, item, now=now, tree=await self.units.tree())
        if item.decision is not None:
            raise Conflict("this grant was decided already", code="already_decided")
        record = DecisionRecord(
            item_id=item.id,
            review_id=review.id,
            grant_id=item.grant_id,
            decision=decision,
            decided_by=by.sub,
            decided_at=now,
            comment=comment,
        )
        if not await self.store.record_decision(record):
            raise Conflict("this grant was decided already", code="already_decided")
        return await self._carry_out(record, review)

    async def _carry_out(self, record: DecisionRecord, review: Review) -> ReviewItem:
        """Write a recorded decision to its item, revoke if it says so; safe to repeat."""
        item = await self._write_decided(record)
        if record.decision is Decision.REVOKE and item.outcome is None:
            outcome = await self.revoke_grant(
                item, actor=record.decided_by, reason=rules.REVOKED_BY_REVIEWER
            )
            if outcome is None:
                log.warning("review revocation of %s under way elsewhere; sweep later", item.id)
                return item
            await self.store.settle(item.id, outcome, at=self.clock())
        await self.store.decision_applied(item.id)
        return await self.store.get_item(review.id, item.grant_id)

    async def _write_decided(self, record: DecisionRecord) -> ReviewItem:
        for _ in range(WRITE_ATTEMPTS):
            item = await self.store.get_item(record.review_id, record.grant_id)
            if item.decision is not None or record.decision is None:
                return item
            after = rules.decided(item, record)
            if await self.store.save_decided(after, expected_sequence=item.sequence):
                self.events_written(self.store.items, after.id, after.pending_events)
                return after
        raise TransientError(f"review item {record.item_id} kept changing")

    # --- the scheduler ----------------------------------------------------------------------
    async def run_schedule(self) -> dict[str, int]:
        """One tick, safe on every replica at once: reminders due, campaigns past their
        deadline, starts and decisions whose process died halfway."""
        now = self.clock()
        counts = {"reminded": 0, "closed": 0, "opened": 0, "decisions": 0}
        for review in await self.store.due(now=now):
            if now >= review.deadline:
                counts["closed"] += await self.close(review)
            else:
                counts["reminded"] += await self.remind(review)
        stale = now - self.stale_after
        for review in await self.store.starting_before(stale):
            await self._open(review)
            counts["opened"] += 1
        for record in await self.store.unapplied_decisions(before=stale):
            review = await self.store.get(record.review_id)
            if review.status is ReviewStatus.OPEN and record.decision is not None:
                await self._carry_out(record, review)
                counts["decisions"] += 1
        return counts

    async def remind(self, review: Review) -> bool:
        """Send the reminders whose time came (one per reviewer with items left)."""
        due = rules.reminders_due(review, now=self.clock())
        if not due:
            return False
        up_to = review.reminders_sent + due
        effect = f"{review.id}:reminder:{up_to}"
        turn = await self.store.claims.take(
            effect, turn=1, holder=self.replica, now=self.clock(), lease=self.close_lease
        )
        if turn is None:
            return False
        for _ in range(WRITE_ATTEMPTS):
            if review.reminders_sent >= up_to or review.status is not ReviewStatus.OPEN:
                break
            pending = rules.pending_by_reviewer(
                await self.store.items_of(review.id, pending_only=True)
            )
            after = rules.reminded(review, pending, up_to=up_to)
            if await self.store.save_review(
                after, expected_sequence=review.sequence, expected_status=ReviewStatus.OPEN
            ):
                self.events_written(self.store.reviews, after.id, after.pending_events)
                break
            review = await self.store.get(review.id)
        else:
            raise TransientError(f"review {review.id} kept changing")
        await self.store.claims.finish(effect, turn)
        return True

    async def close(self, review: Review) -> bool:
        """Settle every item and close the campaign; False if another replica is at it."""
        effect = f"{review.id}:close"
        turn = await self.store.claims.take(
            effect, turn=1, holder=self.replica, now=self.clock(), lease=self.close_lease
        )
        if turn is None:
            return False
        after: str | None = None
        while True:
            page = await self.store.items_of(review.id, pending_only=False, after=after, limit=PAGE)
            for item in page:
                if item.outcome is None:
                    await self._settle_at_close(review, item)
            if len(page) < PAGE:
                break
            after = page[-1].id
            await self.store.claims.renew(
                effect, turn, holder=self.replica, until=self.clock() + self.close_lease
            )
        for _ in range(WRITE_ATTEMPTS):
            if review.status is not ReviewStatus.OPEN:
                break
            items = await self.store.items_of(review.id)
            closed = rules.closed(review, items, now=self.clock())
            if await self.store.save_review(
                closed, expected_sequence=review.sequence, expected_status=ReviewStatus.OPEN
            ):
                self.events_written(self.store.reviews, closed.id, closed.pending_events)
                log.info("access review closed", extra={"review_id": review.id})
                break
            review = await self.store.get(review.id)
        else:
            raise TransientError(f"review {review.id} kept changing")
        await self.store.claims.finish(effect, turn)
        return True

    async def _settle_at_close(self, review: Review, item: ReviewItem) -> None:
        now = self.clock()
        undecided = DecisionRecord(
            item_id=item.id,
            review_id=review.id,
            grant_id=item.grant_id,
            decision=None,
            decided_by=SYSTEM,
            decided_at=now,
        )
        record: DecisionRecord | None = undecided
        if not await self.store.record_decision(undecided):
            record = await self.store.get_decision(item.id)  # a reviewer's, decided in time
            assert record is not None
            item = await self._write_decided(record)
            if item.outcome is not None:
                await self.store.decision_applied(item.id)
                return
        assert record is not None
        if rules.must_revoke(record.decision, review.undecided_action):
            actor = record.decided_by if record.decision is not None else SYSTEM
            outcome = await self.revoke_grant(
                item, actor=actor, reason=rules.revoke_reason(record.decision)
            )
            if outcome is None:
                raise TransientError(f"grant {item.grant_id} is being ended elsewhere")
        else:
            open_now = await self.store.open_grants([item.grant_id])
            outcome = Outcome.KEPT if item.grant_id in open_now else Outcome.ENDED_BEFORE
        await self.store.settle(item.id, outcome, at=now)
        await self.store.decision_applied(item.id)

    # --- reads ------------------------------------------------------------------------------
    async def get_review(self, review_id: str, *, by: Principal) -> Review:
        review = await self.store.get(review_id)
        if review.status is ReviewStatus.STARTING:
            raise NotFound(f"no access review {review_id}", code="review_not_found")
        if rules.may_read_review(by, review, await self.units.tree()):
            return review
        if await self.store.items_of(review.id, reviewer=by.sub, limit=1):
            return review
        raise Forbidden("you may not read this review", code="not_allowed_to_read")

    async def list_reviews(
        self,
        *,
        by: Principal,
        status: ReviewStatus | None = None,
        to_review: bool = False,
        after: str | None = None,
        limit: int = 50,
    ) -> list[Review]:
        """Campaigns over the caller's units (admins, auditors) and those they review;
        `to_review`: only those where the caller still has grants to decide."""
        mine = await self.store.reviews_pending_for(by.sub)
        if to_review:
            return await self.store.search(
                units=set(), ids=mine, status=status, after=after, limit=limit
            )
        units = units_covered(by, await self.units.tree(), READERS)
        return await self.store.search(
            units=units, ids=mine, status=status, after=after, limit=limit
        )

    async def list_items(
        self,
        review_id: str,
        *,
        by: Principal,
        mine: bool = False,
        pending_only: bool = False,
        after: str | None = None,
        limit: int = 100,
    ) -> list[ReviewItem]:
        review = await self.get_review(review_id, by=by)
        reader = rules.may_read_review(by, review, await self.units.tree())
        return await self.store.items_of(
            review.id,
            reviewer=by.sub if mine or not reader else None,
            pending_only=pending_only,
            after=after,
            limit=limit,
        )

    async def items_of_reviews(
        self,
        review_ids: Sequence[str],
        *,
        by: Principal,
        mine: bool = False,
        pending_only: bool = False,
        limit: int = 100,
    ) -> dict[str, list[ReviewItem]]:
        """The first page of items of many campaigns in one call (the gateway's DataLoaders);
        campaigns the caller may not read (or that do not exist) are left out."""
        groups: dict[str, list[ReviewItem]] = {}
        for review_id in dict.fromkeys(review_ids):
            try:
                groups[review_id] = await self.list_items(
                    review_id, by=by, mine=mine, pending_only=pending_only, limit=limit
                )
            except (NotFound, Forbidden):
                continue
        return groups

    async def report(self, review_id: str, *, by: Principal) -> tuple[Review, list[ReviewItem]]:
        """Every item with its decision and outcome: admins and auditors over the unit."""
        review = await self.store.get(review_id)
        if review.status is ReviewStatus.STARTING or not rules.may_read_review(
            by, review, await self.units.tree()
        ):
            raise Forbidden(
                "the report is for admins and auditors over the review's unit",
                code="not_allowed_to_read",
            )
        return review, await self.store.items_of(review.id)
