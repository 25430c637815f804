"""Access reviews' pure rules: who reviews what, who may decide, reminders, closing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from access.domain import reviews as rules
from access.domain.org_view import MirroredUnit, UnitTree
from access.domain.reviews import (
    Decision,
    DecisionRecord,
    GrantAtStart,
    ReviewStatus,
    UndecidedAction,
)
from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict, Forbidden
from chorus_kit.events.access import AccountRole
from chorus_kit.events.identity import Role, RoleAssignment, UnitKind

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
TREE = UnitTree(
    [
        MirroredUnit("dept-a", "company", UnitKind.DEPARTMENT),
        MirroredUnit("dept-b", "company", UnitKind.DEPARTMENT),
    ],
    root_id="company",
)


def _person(sub: str, *roles: tuple[Role, str]) -> Principal:
    return Principal(
        sub=sub,
        roles=tuple(RoleAssignment(role=r, unit=u) for r, u in roles),
        issued_at=NOW,
        token_id="t",
    )


def _grant(grant_id: str, account_id: str, holder: str, role: AccountRole) -> GrantAtStart:
    return GrantAtStart(
        grant_id=grant_id,
        account_id=account_id,
        account_unit_id="dept-a",
        network="linkedin",
        handle=account_id,
        holder_id=holder,
        role=role,
        granted_at=NOW - timedelta(days=3),
        expires_at=None if role is AccountRole.OWNER else NOW + timedelta(days=30),
    )


def _open_review(hours: int = 10, undecided: UndecidedAction = UndecidedAction.REVOKE):
    review = rules.start(
        unit_id="dept-a",
        deadline=NOW + timedelta(hours=hours),
        undecided_action=undecided,
        by="admin",
        now=NOW,
    )
    return replace(rules.opened(review, items=3), pending_events=())


GRANTS = [
    _grant("g-own-1", "acct-1", "owner-1", AccountRole.OWNER),
    _grant("g-own-2", "acct-1", "owner-2", AccountRole.OWNER),
    _grant("g-pub", "acct-1", "publisher", AccountRole.PUBLISHER),
    _grant("g-solo", "acct-2", "owner-1", AccountRole.OWNER),
    _grant("g-view", "acct-2", "viewer", AccountRole.VIEWER),
]


def test_every_grant_is_an_item_reviewed_by_the_accounts_other_owners() -> None:
    review = _open_review()
    items = {i.grant_id: i for i in rules.items_for(review, GRANTS)}
    assert set(items) == {g.grant_id for g in GRANTS}
    assert items["g-own-1"].reviewers == ("owner-2",)  # owners review each other
    assert items["g-own-2"].reviewers == ("owner-1",)
    assert items["g-pub"].reviewers == ("owner-1", "owner-2")
    assert items["g-view"].reviewers == ("owner-1",)
    assert items["g-solo"].reviewers == ()  # the sole owner's own grant: nobody else
    assert items["g-pub"].id == f"{review.id}:g-pub"


def test_a_campaign_needs_a_future_deadline_within_a_year() -> None:
    for deadline, code in (
        (NOW, "deadline_in_past"),
        (NOW + timedelta(days=400), "deadline_too_far"),
    ):
        with pytest.raises(ChorusError) as refused:
            rules.start(
                unit_id=None,
                deadline=deadline,
                undecided_action=UndecidedAction.KEEP,
                by="a",
                now=NOW,
            )
        assert refused.value.code == code


def test_opening_announces_the_campaign_once_with_its_audit_entry() -> None:
    review = rules.start(
        unit_id=None,
        deadline=NOW + timedelta(days=14),
        undecided_action=UndecidedAction.KEEP,
        by="admin",
        now=NOW,
    )
    opened = rules.opened(review, items=5)
    started, audit = opened.pending_events
    assert started.type == "chorus.access.review.started"
    assert started.data["items"] == 5 and started.data["undecided"] == "keep"
    assert audit.data["action"] == "review.started"
    assert opened.status is ReviewStatus.OPEN
    # A start finished again by another replica raises the very same events.
    assert [e.id for e in rules.opened(review, items=5).pending_events] == [
        started.id,
        audit.id,
    ]
    with pytest.raises(Conflict):
        rules.opened(opened, items=5)


def test_only_a_reviewer_decides_never_the_holder_and_only_while_open() -> None:
    review = _open_review()
    items = {i.grant_id: i for i in rules.items_for(review, GRANTS)}
    soon = NOW + timedelta(hours=1)
    rules.require_may_decide(_person("owner-2"), review, items["g-own-1"], now=soon, tree=TREE)
    with pytest.raises(Forbidden) as own:
        rules.require_may_decide(_person("owner-1"), review, items["g-own-1"], now=soon, tree=TREE)
    assert own.value.code == "own_grant"
    with pytest.raises(Forbidden) as stranger:
        rules.require_may_decide(_person("publisher"), review, items["g-view"], now=soon, tree=TREE)
    assert stranger.value.code == "not_reviewer"
    # An admin over the account's unit is no reviewer where owners exist...
    admin = _person("admin-a", (Role.ADMIN, "dept-a"))
    with pytest.raises(Forbidden):
        rules.require_may_decide(admin, review, items["g-pub"], now=soon, tree=TREE)
    # ...but decides an item nobody else can (the sole owner's own grant).
    rules.require_may_decide(admin, review, items["g-solo"], now=soon, tree=TREE)
    with pytest.raises(Forbidden):
        rules.require_may_decide(
            _person("admin-b", (Role.ADMIN, "dept-b")), review, items["g-solo"], now=soon, tree=TREE
        )
    # Not at or after the deadline, nor once closed.
    with pytest.raises(Conflict) as late:
        rules.require_may_decide(
            _person("owner-2"), review, items["g-own-1"], now=review.deadline, tree=TREE
        )
    assert late.value.code == "review_closed"


def test_a_decision_raises_decided_and_an_audit_entry_with_stable_ids() -> None:
    review = _open_review()
    item = next(i for i in rules.items_for(review, GRANTS) if i.grant_id == "g-pub")
    record = DecisionRecord(
        item_id=item.id,
        review_id=review.id,
        grant_id="g-pub",
        decision=Decision.REVOKE,
        decided_by="owner-1",
        decided_at=NOW,
    )
    decided = rules.decided(item, record)
    event, audit = decided.pending_events
    assert event.type == "chorus.access.review.decided"
    assert event.data == {
        "review_id": review.id,
        "grant_id": "g-pub",
        "decision": "revoke",
        "decided_by": "owner-1",
    }
    assert event.subject == item.id and audit.data["action"] == "review.revoked"
    assert [e.id for e in rules.decided(item, record).pending_events] == [event.id, audit.id]
    with pytest.raises(Conflict):
        rules.decided(replace(decided, pending_events=()), record)


@pytest.mark.parametrize(
    ("decision", "setting", "revoke"),
    [
        (Decision.REVOKE, UndecidedAction.KEEP, True),
        (Decision.CONFIRM, UndecidedAction.REVOKE, False),
        (None, UndecidedAction.REVOKE, True),
        (None, UndecidedAction.KEEP, False),
    ],
)
def test_what_goes_at_the_deadline(
    decision: Decision | None, setting: UndecidedAction, revoke: bool
) -> None:
    assert rules.must_revoke(decision, setting) is revoke


def test_reminders_at_half_and_nine_tenths_once_each_one_per_reviewer_with_items_left() -> None:
    review = _open_review(hours=10)
    assert rules.reminders_due(review, now=NOW + timedelta(hours=4)) == 0
    assert rules.reminders_due(review, now=NOW + timedelta(hours=5)) == 1
    assert rules.reminders_due(review, now=NOW + timedelta(hours=9, minutes=30)) == 2
    assert rules.reminders_due(review, now=review.deadline) == 0  # then it closes instead
    items = rules.items_for(review, GRANTS)
    decided = [
        replace(i, decision=Decision.CONFIRM) if i.grant_id == "g-view" else i for i in items
    ]
    pending = rules.pending_by_reviewer(decided)
    assert pending == {"owner-1": 2, "owner-2": 2}  # g-view decided: owner-1 has g-own-2, g-pub
    reminded = rules.reminded(review, pending, up_to=1)
    assert reminded.reminders_sent == 1 and reminded.next_reminder_at == review.reminder_at(1)
    assert [(e.data["owner_id"], e.data["pending"]) for e in reminded.pending_events] == [
        ("owner-1", 2),
        ("owner-2", 2),
    ]
    assert len({e.id for e in reminded.pending_events}) == 2
    assert (
        rules.reminders_due(replace(reminded, pending_events=()), now=NOW + timedelta(hours=6)) == 0
    )
    assert reminded.next_check_at == review.reminder_at(1)


def test_closing_tallies_decisions_and_says_what_became_of_the_undecided() -> None:
    review = _open_review(undecided=UndecidedAction.REVOKE)
    items = rules.items_for(review, GRANTS)
    items[0] = replace(items[0], decision=Decision.CONFIRM)
    items[1] = replace(items[1], decision=Decision.REVOKE)
    closed = rules.closed(review, items, now=review.deadline)
    assert closed.status is ReviewStatus.CLOSED and closed.next_check_at is None
    event, audit = closed.pending_events
    assert event.type == "chorus.access.review.closed"
    assert event.data == {
        "review_id": review.id,
        "confirmed": 1,
        "revoked": 1,
        "undecided": 3,
        "undecided_action": "revoke",
    }
    assert audit.data["actor"] == "system"
    with pytest.raises(Conflict):
        rules.closed(replace(closed, pending_events=()), items, now=review.deadline)


def test_the_report_row_names_every_column() -> None:
    review = _open_review()
    [item, *_] = rules.items_for(review, GRANTS)
    assert set(rules.report_row(item)) == set(rules.REPORT_COLUMNS)


def test_admins_over_the_unit_start_campaigns_and_the_root_for_all_accounts() -> None:
    rules.require_may_start(_person("a", (Role.ADMIN, "dept-a")), "dept-a", TREE)
    rules.require_may_start(_person("a", (Role.ADMIN, "company")), None, TREE)
    for who, unit in (
        (_person("a", (Role.ADMIN, "dept-a")), None),
        (_person("a", (Role.ADMIN, "dept-b")), "dept-a"),
        (_person("a", (Role.AUDITOR, "company")), "dept-a"),
    ):
        with pytest.raises(Forbidden):
            rules.require_may_start(who, unit, TREE)
