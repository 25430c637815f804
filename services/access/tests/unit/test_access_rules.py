"""Access's rules, pure: who decides, how long grants last, coverage alerts, intervals, scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from access.domain import accounts, grants
from access.domain.accounts import DEFAULT_POLICIES, OwnerGrantOp
from access.domain.authorization import (
    Visibility,
    require_may_decide,
    require_may_revoke,
    units_covered,
    visibility,
)
from access.domain.grants import EXPIRED, Grant
from access.domain.org_view import MirroredUnit, UnitTree, view_update
from access.domain.reports import csv_cell, former_staff_with_access, situation_signature
from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict, Forbidden
from chorus_kit.events import new_event
from chorus_kit.events.access import AccountRole, Classification
from chorus_kit.events.identity import (
    OrgUnitMoved,
    Role,
    RoleAssignment,
    SocialNetwork,
    UnitKind,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
COVERAGE_LOW = "chorus.access.account.coverage_low"


def principal(sub: str, *roles: tuple[Role, str]) -> Principal:
    return Principal(
        sub=sub,
        roles=tuple(RoleAssignment(role=r, unit=u) for r, u in roles),
        issued_at=T0,
        token_id="t",
    )


def tree() -> UnitTree:
    return UnitTree(
        [
            MirroredUnit("sub-a", "company", UnitKind.SUBSIDIARY),
            MirroredUnit("a-dept", "sub-a", UnitKind.DEPARTMENT),
            MirroredUnit("sub-b", "company", UnitKind.SUBSIDIARY),
        ],
        root_id="company",
    )


def account(owners: list[str], classification: Classification = Classification.BRAND):
    return accounts.register(
        network=SocialNetwork.X,
        handle="@chorus",
        url=None,
        unit_id="a-dept",
        purpose=None,
        classification=classification,
        policy=DEFAULT_POLICIES[classification],
        owners=owners,
        by="admin",
        now=T0,
    )


def types(aggregate) -> list[str]:
    return [e.type for e in aggregate.pending_events]


def clean(a):
    """As stored: events handed to the relay, changes applied."""
    from dataclasses import replace

    return replace(a, pending_events=(), owner_grant_changes=())


# --- deciders ---------------------------------------------------------------------------------
def test_deciders_are_the_employed_owners_but_never_the_requester() -> None:
    owners = ["o1", "o2", "o3", "o1"]
    assert grants.deciders_for(owners, "o2", employed={"o1", "o2", "o3"}) == ("o1", "o3")
    assert grants.deciders_for(owners, "x", employed={"o3"}) == ("o3",)


def test_a_request_nobody_else_can_decide_is_refused() -> None:
    with pytest.raises(Conflict) as refused:
        grants.request_access(
            account_id="a",
            account_unit_id="u",
            requester_id="o1",
            role=AccountRole.VIEWER,
            justification="j",
            duration_seconds=None,
            deciders=grants.deciders_for(["o1"], "o1", employed={"o1"}),
            now=T0,
        )
    assert refused.value.code == "no_deciders"


def test_nobody_decides_their_own_request_and_only_owners_decide() -> None:
    request = grants.request_access(
        account_id="a",
        account_unit_id="u",
        requester_id="p",
        role=AccountRole.VIEWER,
        justification="j",
        duration_seconds=60,
        deciders=["o1"],
        now=T0,
    )
    with pytest.raises(Forbidden) as own:
        require_may_decide(principal("p"), request, ["o1", "p"])  # even once an owner
    assert own.value.code == "own_request"
    with pytest.raises(Forbidden) as stranger:
        require_may_decide(principal("admin", (Role.ADMIN, "company")), request, ["o1"])
    assert stranger.value.code == "not_decider"
    require_may_decide(principal("o1"), request, ["o1"])
    event = request.pending_events[0]
    assert event.type == "chorus.access.grant.requested" and event.data["deciders"] == ["o1"]


# --- how long ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("classification", "days"),
    [
        (Classification.BRAND, 90),
        (Classification.REGIONAL, 90),
        (Classification.EXECUTIVE, 30),
        (Classification.RECRUITING, 180),
    ],
)
def test_non_owner_grants_end_within_the_classification_maximum(classification, days) -> None:
    longest = DEFAULT_POLICIES[classification].max_grant_days
    assert longest == days
    lifetime = grants.grant_lifetime(AccountRole.PUBLISHER, None, max_grant_days=longest)
    assert lifetime == timedelta(days=days)
    exact = grants.grant_lifetime(AccountRole.VIEWER, days * 86_400, max_grant_days=longest)
    assert exact == timedelta(days=days)
    with pytest.raises(ChorusError) as too_long:
        grants.grant_lifetime(AccountRole.VIEWER, days * 86_400 + 1, max_grant_days=longest)
    assert too_long.value.code == "duration_exceeds_policy"


def test_owner_grants_are_open_ended() -> None:
    assert grants.grant_lifetime(AccountRole.OWNER, None, max_grant_days=30) is None
    with pytest.raises(ChorusError) as refused:
        grants.grant_lifetime(AccountRole.OWNER, 60, max_grant_days=30)
    assert refused.value.code == "owner_grants_do_not_expire"


def test_approval_caps_a_request_made_under_a_looser_policy() -> None:
    asked = 60 * 86_400
    capped = grants.lifetime_at_approval(AccountRole.PUBLISHER, asked, max_grant_days=30)
    assert capped == timedelta(days=30)
    assert grants.lifetime_at_approval(AccountRole.OWNER, None, max_grant_days=30) is None


# --- coverage ---------------------------------------------------------------------------------
def test_coverage_alerts_each_time_it_drops_below_two_and_not_while_it_stays_low() -> None:
    one = account(["o1"])
    assert one.coverage_low and types(one).count(COVERAGE_LOW) == 1
    low = one.pending_events[-1]
    assert low.data["active_owners"] == 1 and low.data["owners"] == ["o1"]

    two = accounts.add_owner(clean(one), "o2", by="o1", now=T0)
    assert not two.coverage_low and COVERAGE_LOW not in types(two)

    three = accounts.add_owner(clean(two), "o3", by="o1", now=T0)
    back_to_two = accounts.remove_owner(clean(three), "o3", by="a", reason="r", now=T0)
    assert not back_to_two.coverage_low and COVERAGE_LOW not in types(back_to_two)

    dropped = accounts.remove_owner(clean(back_to_two), "o2", by="a", reason="r", now=T0)
    assert dropped.coverage_low and types(dropped).count(COVERAGE_LOW) == 1
    none_left = accounts.remove_owner(clean(dropped), "o1", by="a", reason="r", now=T0)
    assert none_left.coverage_low and COVERAGE_LOW not in types(none_left)  # still low

    again = accounts.add_owner(
        clean(accounts.add_owner(clean(none_left), "o4", by="a", now=T0)), "o5", by="a", now=T0
    )
    assert not again.coverage_low
    dropped_again = accounts.remove_owner(clean(again), "o5", by="a", reason="r", now=T0)
    assert types(dropped_again).count(COVERAGE_LOW) == 1


def test_registering_with_two_owners_raises_no_alert_and_opens_their_grants() -> None:
    both = account(["o1", "o2"])
    assert not both.coverage_low and types(both)[0] == "chorus.access.account.registered"
    assert COVERAGE_LOW not in types(both)
    assert [(c.person_id, c.op) for c in both.owner_grant_changes] == [
        ("o1", OwnerGrantOp.OPEN),
        ("o2", OwnerGrantOp.OPEN),
    ]
    assert {c.grant_id for c in both.owner_grant_changes} == {o.grant_id for o in both.ownerships}


def test_a_hand_over_between_owners_keeps_coverage_and_closes_the_leaver_s_grant() -> None:
    two = clean(account(["o1", "o2"]))
    handed = accounts.hand_over(two, "o1", "m1", by="system", reason="offboarded", now=T0)
    assert handed.owners == ["o2", "m1"] and not handed.coverage_low
    assert types(handed) == [
        "chorus.access.account.owner_removed",
        "chorus.access.account.owner_added",
    ]
    assert handed.pending_events[1].data["handed_over_from"] == "o1"
    closed, opened = handed.owner_grant_changes
    assert closed.op is OwnerGrantOp.CLOSE and closed.grant_id == two.owner_grant_of("o1")
    assert opened.op is OwnerGrantOp.OPEN and opened.person_id == "m1"
    alone = accounts.hand_over(two, "o1", None, by="system", reason="offboarded", now=T0)
    assert types(alone)[-1] == COVERAGE_LOW


def test_owner_rules_refuse_what_makes_no_sense() -> None:
    two = clean(account(["o1", "o2"]))
    with pytest.raises(Conflict) as twice:
        accounts.add_owner(two, "o1", by="a", now=T0)
    assert twice.value.code == "already_owner"
    with pytest.raises(Conflict) as stranger:
        accounts.remove_owner(two, "x", by="a", reason="r", now=T0)
    assert stranger.value.code == "not_an_owner"


# --- intervals --------------------------------------------------------------------------------
def grant(**fields) -> Grant:
    base = {
        "id": "g1",
        "account_id": "a",
        "account_unit_id": "a-dept",
        "holder_id": "p",
        "role": AccountRole.PUBLISHER,
        "granted_at": T0,
        "granted_by": "o1",
        "expires_at": T0 + timedelta(days=10),
    }
    return Grant(**{**base, **fields})


def test_a_grant_is_active_on_its_half_open_interval() -> None:
    g = grant()
    assert not g.active_at(T0 - timedelta(seconds=1))
    assert g.active_at(T0) and g.active_at(T0 + timedelta(days=9))
    assert not g.active_at(T0 + timedelta(days=10))
    revoked = grant(revoked_at=T0 + timedelta(days=2))
    assert revoked.active_at(T0 + timedelta(days=1))
    assert not revoked.active_at(T0 + timedelta(days=2))
    owner = grant(role=AccountRole.OWNER, expires_at=None)
    assert owner.active_at(T0 + timedelta(days=10_000))


def test_ending_a_grant_before_its_expiry_revokes_it_and_after_it_expires_it() -> None:
    early = grants.end(grant(), at=T0 + timedelta(days=1), by="o1", reason="r", effect="g1:end")
    assert early.revoked_at == T0 + timedelta(days=1) and early.revoke_reason == "r"
    assert [e.type for e in early.pending_events] == ["chorus.access.grant.revoked"]
    late = grants.end(
        grant(), at=T0 + timedelta(days=11), by="system", reason=EXPIRED, effect="g1:end"
    )
    assert late.revoked_at == T0 + timedelta(days=10) and late.revoke_reason == EXPIRED
    assert [e.type for e in late.pending_events] == ["chorus.access.grant.expired"]
    with pytest.raises(Conflict):
        grants.end(early, at=T0 + timedelta(days=2), by="o1", reason="r", effect="x")


def test_one_effect_gives_the_same_event_ids_whoever_computes_it() -> None:
    first = grants.end(grant(), at=T0, by="o1", reason="r", effect="g1:end")
    second = grants.end(grant(), at=T0, by="o1", reason="r", effect="g1:end")
    assert [e.id for e in first.pending_events] == [e.id for e in second.pending_events]
    other = grants.end(grant(), at=T0, by="o1", reason="r", effect="g2:end")
    assert other.pending_events[0].id != first.pending_events[0].id


def test_the_expiry_notice_is_due_once_within_the_lead() -> None:
    g = grant(expires_at=T0 + timedelta(days=3))
    lead = timedelta(days=3)
    assert not grants.expiring_due(g, now=T0 - timedelta(seconds=1), lead=lead)
    assert grants.expiring_due(g, now=T0, lead=lead)
    sent = grants.mark_expiring(g, effect="g1:expiring")
    assert not grants.expiring_due(sent, now=T0, lead=lead)
    assert not grants.expiring_due(g, now=T0 + timedelta(days=3), lead=lead)  # ended instead
    with pytest.raises(Conflict):
        grants.mark_expiring(sent, effect="g1:expiring")


# --- scope ------------------------------------------------------------------------------------
def test_roles_cover_their_unit_s_subtree_and_the_root_covers_units_not_yet_mirrored() -> None:
    t = tree()
    assert t.path("a-dept") == ("a-dept", "sub-a", "company")
    assert t.path("not-yet-known") == ("not-yet-known", "company")
    assert units_covered(principal("x", (Role.ADMIN, "sub-a")), t) == {"sub-a", "a-dept"}
    assert units_covered(principal("x", (Role.AUDITOR, "company")), t) is None
    assert units_covered(principal("x", (Role.EMPLOYEE, "sub-a")), t) == set()


def test_only_readers_over_the_root_see_everything_whatever_they_own() -> None:
    def sees_everything(*roles: tuple[Role, str]) -> bool:
        seen = visibility(principal("x", *roles), tree(), owned_accounts=[], held_accounts=[])
        return seen.sees_everything

    assert sees_everything((Role.ADMIN, "company"))
    assert sees_everything((Role.AUDITOR, "company"), (Role.EMPLOYEE, "sub-a"))
    assert not sees_everything((Role.ADMIN, "sub-a"))
    assert not sees_everything((Role.EMPLOYEE, "company"))  # sees the register, not grants
    assert not sees_everything()


def test_a_publisher_of_a_sees_their_own_grant_but_not_b_s_grants() -> None:
    seen = visibility(
        principal("p", (Role.EMPLOYEE, "sub-b")), tree(), owned_accounts=[], held_accounts=["A"]
    )
    own = grant(account_id="A", holder_id="p")
    assert seen.sees_grant(own)
    assert not seen.sees_grant(grant(account_id="A", holder_id="someone"))
    assert not seen.sees_grant(grant(account_id="B", holder_id="someone"))
    assert seen.sees_account("A", "a-dept") and not seen.sees_account("B", "a-dept")
    owner = visibility(principal("o"), tree(), owned_accounts=["A"], held_accounts=["A"])
    assert owner.sees_grant(grant(account_id="A", holder_id="someone"))
    assert not owner.sees_grant(grant(account_id="B", holder_id="someone"))
    auditor = visibility(
        principal("x", (Role.AUDITOR, "sub-a")), tree(), owned_accounts=[], held_accounts=[]
    )
    assert auditor.sees_grant(grant(account_unit_id="a-dept"))
    assert not auditor.sees_grant(grant(account_unit_id="sub-b"))
    assert Visibility.everything("x").sees_grant(grant(account_unit_id="sub-b"))


def test_who_may_revoke() -> None:
    two = clean(account(["o1", "o2"]))
    publisher = grant(account_id=two.id)
    t = tree()
    require_may_revoke(principal("o1"), publisher, two, t)
    require_may_revoke(principal("p"), publisher, two, t)  # giving up one's own
    require_may_revoke(principal("x", (Role.ADMIN, "sub-a")), publisher, two, t)
    with pytest.raises(Forbidden):
        require_may_revoke(principal("x", (Role.ADMIN, "sub-b")), publisher, two, t)
    ownership = grant(account_id=two.id, role=AccountRole.OWNER, holder_id="o2", expires_at=None)
    with pytest.raises(Forbidden):
        require_may_revoke(principal("o1"), ownership, two, t)  # owners are removed by admins


# --- reports ----------------------------------------------------------------------------------
def test_former_staff_are_leavers_with_open_grants_or_pending_network_revocations() -> None:
    employment = {
        "left": {"status": "offboarded", "email": "l@x", "unit_id": "a-dept"},
        "stays": {"status": "active"},
        "left-clean": {"status": "offboarded"},
        "left-network": {"status": "offboarded", "unit_id": "sub-b"},
    }
    entries = former_staff_with_access(
        employment=employment,
        open_grants=[grant(id="g1", holder_id="left"), grant(id="g2", holder_id="stays")],
        pending_connector_revocations={"left-network": 2, "stays": 1},
    )
    assert [
        (e.person_id, [g.id for g in e.open_grants], e.pending_connector_revocations)
        for e in entries
    ] == [
        ("left", ["g1"], 0),
        ("left-network", [], 2),
    ]
    same = situation_signature(list(reversed(entries)))
    assert same == situation_signature(entries)
    assert situation_signature(entries[:1]) != same


def test_csv_cells_never_start_a_formula() -> None:
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_cell("@handle") == "'@handle"
    assert csv_cell("plain") == "plain" and csv_cell(None) == ""
    assert csv_cell(T0) == "2026-03-01T12:00:00+00:00"


# --- the org-unit mirror ----------------------------------------------------------------------
def test_an_org_unit_event_sets_the_whole_unit_in_the_view() -> None:
    moved = new_event(
        "chorus.identity.org_unit.moved",
        source="/t",
        subject="a-dept",
        sequence=3,
        data=OrgUnitMoved(
            unit_id="a-dept",
            name="A dept",
            kind=UnitKind.DEPARTMENT,
            parent_id="sub-b",
            path=["a-dept", "sub-b", "company"],
            status="open",
            previous_parent_id="sub-a",
        ),
    )
    assert view_update(moved) == {
        "$set": {
            "name": "A dept",
            "kind": "department",
            "parent_id": "sub-b",
            "path": ["a-dept", "sub-b", "company"],
            "status": "open",
        }
    }
    after = UnitTree(
        [
            MirroredUnit("sub-a", "company", UnitKind.SUBSIDIARY),
            MirroredUnit("sub-b", "company", UnitKind.SUBSIDIARY),
            MirroredUnit("a-dept", "sub-b", UnitKind.DEPARTMENT, status="closed"),
        ],
        root_id="company",
    )
    assert after.covers("sub-b", "a-dept") and not after.covers("sub-a", "a-dept")
    assert not after.is_open("a-dept") and after.is_open("company")
