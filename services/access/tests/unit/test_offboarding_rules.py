"""Which grants a leaver, a suspended person or a mover loses, and who takes over ownership."""

from __future__ import annotations

from datetime import UTC, datetime

from access.domain.offboarding import (
    Departure,
    Handover,
    OpenGrant,
    OwnedAccount,
    Person,
    Trigger,
    completed,
    completion,
    departure_from,
    grants_to_revoke,
    next_owner,
    offboarding_id,
    plan_departures,
)
from chorus_kit.events import Event

GRANTS = [
    OpenGrant("g1", "brand", "company", "owner"),
    OpenGrant("g2", "a-jobs", "sub-a", "publisher"),
    OpenGrant("g3", "a-press", "a-press", "viewer"),
]


def test_leavers_and_suspended_people_lose_every_grant() -> None:
    assert grants_to_revoke(Trigger.OFFBOARDED, GRANTS) == GRANTS
    assert grants_to_revoke(Trigger.SUSPENDED, GRANTS) == GRANTS


def test_movers_keep_only_grants_of_units_that_still_contain_them() -> None:
    # From a-press (in sub-a) to sub-a itself: a-press's account goes, sub-a's and company's stay.
    lost = grants_to_revoke(Trigger.MOVED, GRANTS, new_unit_path=("sub-a", "company"))
    assert [g.grant_id for g in lost] == ["g3"]
    # To subsidiary B: only the company-wide account stays.
    lost = grants_to_revoke(Trigger.MOVED, GRANTS, new_unit_path=("sub-b", "company"))
    assert [g.grant_id for g in lost] == ["g2", "g3"]


def person(pid: str, path: tuple[str, ...], *, status: str = "active", chain=()) -> Person:
    return Person(id=pid, status=status, unit_path=path, manager_chain=tuple(chain))


LEAVER = person("ann", ("a-press", "sub-a", "company"), chain=("bob", "cat", "dan", "eve"))
PEOPLE = {
    "bob": person("bob", ("a-press", "sub-a", "company"), status="offboarded"),
    "cat": person("cat", ("a-press", "sub-a", "company")),
    "dan": person("dan", ("sub-a", "company")),
    "eve": person("eve", ("company",)),
}


def test_ownership_goes_to_the_nearest_eligible_manager() -> None:
    def pick(unit: str, owners=(), leaving=()) -> str | None:
        return next_owner(
            LEAVER, account_unit_id=unit, current_owners=owners, people=PEOPLE, leaving=leaving
        )

    assert pick("a-press") == "cat"  # bob has left
    assert pick("a-press", leaving={"cat"}) is None  # dan and eve work outside a-press
    assert pick("sub-a", leaving={"cat"}) == "dan"
    assert pick("sub-a", owners={"cat", "dan"}) is None
    assert pick("company", owners={"cat", "dan"}) == "eve"


def test_one_offboarding_per_triggering_event() -> None:
    assert offboarding_id("event-1") == offboarding_id("event-1") != offboarding_id("event-2")


# --- a batch of departures ---------------------------------------------------------------------
def departure(pid: str, trigger: Trigger, path: tuple[str, ...], chain=()) -> Departure:
    return Departure(
        offboarding_id=offboarding_id(f"event-{pid}-{trigger}"),
        trigger=trigger,
        trigger_event_id=f"event-{pid}-{trigger}",
        person=person(pid, path, status="offboarded", chain=chain),
    )


def owner_grant(gid: str, account: str, unit: str) -> OpenGrant:
    return OpenGrant(gid, account, unit, "owner")


def test_a_batch_never_hands_an_account_to_someone_leaving_in_it() -> None:
    ann = departure("ann", Trigger.OFFBOARDED, ("a-press", "sub-a", "company"), ("cat", "dan"))
    cat = departure("cat", Trigger.SUSPENDED, ("a-press", "sub-a", "company"), ("dan",))
    plans = plan_departures(
        [ann, cat],
        open_grants={
            "ann": [
                owner_grant("g-ann", "acct", "sub-a"),
                OpenGrant("g2", "x", "company", "viewer"),
            ],
            "cat": [],
        },
        accounts={"acct": OwnedAccount("acct", "sub-a", ("ann", "zed"))},
        people=PEOPLE,
    )
    ann_plan = plans[0]
    # cat is active in the mirror but leaves in the same batch: dan (in sub-a) takes over.
    assert ann_plan.handovers == (Handover("acct", "ann", "dan"),)
    assert [g.grant_id for g in ann_plan.grants] == ["g2"]  # owner grants end via the account
    assert ann_plan.account_scope is None  # a leaver's leases and secrets: every account


def test_two_leavers_of_one_account_each_hand_over_to_someone_else() -> None:
    ann = departure("ann", Trigger.OFFBOARDED, ("a-press", "sub-a", "company"), ("dan", "eve"))
    bea = departure("bea", Trigger.OFFBOARDED, ("sub-a", "company"), ("dan", "eve"))
    plans = plan_departures(
        [ann, bea],
        open_grants={
            "ann": [owner_grant("g-ann", "acct", "company")],
            "bea": [owner_grant("g-bea", "acct", "company")],
        },
        accounts={"acct": OwnedAccount("acct", "company", ("ann", "bea"))},
        people=PEOPLE,
    )
    assert [p.handovers for p in plans] == [
        (Handover("acct", "ann", "dan"),),
        (Handover("acct", "bea", "eve"),),  # dan owns it by then
    ]


def test_nobody_eligible_is_a_handover_to_nobody() -> None:
    ann = departure("ann", Trigger.OFFBOARDED, ("a-press", "sub-a", "company"), ("bob",))
    [plan] = plan_departures(
        [ann],
        open_grants={"ann": [owner_grant("g", "acct", "a-press")]},
        accounts={"acct": OwnedAccount("acct", "a-press", ("ann",))},
        people=PEOPLE,
    )
    assert plan.handovers == (Handover("acct", "ann", None),)


def test_an_account_no_longer_theirs_is_not_handed_over() -> None:
    ann = departure("ann", Trigger.OFFBOARDED, ("company",), ("eve",))
    [plan] = plan_departures(
        [ann],
        open_grants={"ann": [owner_grant("g", "acct", "company")]},
        accounts={"acct": OwnedAccount("acct", "company", ("zed", "yan"))},
        people=PEOPLE,
    )
    assert plan.handovers == () and plan.grants == ()
    # ... but its owner grant, still open, is one the account has yet to close.
    assert plan.unsynced_owner_grants == (owner_grant("g", "acct", "company"),)


def test_a_mover_loses_only_the_accounts_of_the_unit_left_and_hands_those_over() -> None:
    mover = Departure(
        offboarding_id=offboarding_id("move-1"),
        trigger=Trigger.MOVED,
        trigger_event_id="move-1",
        person=person("ann", ("sub-b", "company"), chain=("eve",)),
        previous_unit_id="a-press",
    )
    [plan] = plan_departures(
        [mover],
        open_grants={
            "ann": [
                owner_grant("g-own", "press", "a-press"),
                OpenGrant("g-pub", "jobs", "sub-a", "publisher"),
                OpenGrant("g-co", "brand", "company", "viewer"),
            ]
        },
        accounts={
            "press": OwnedAccount("press", "a-press", ("ann", "cat")),
            "brand": OwnedAccount("brand", "company", ("eve", "dan")),
        },
        people=PEOPLE,
    )
    assert [g.grant_id for g in plan.grants] == ["g-pub"]
    # eve is the only manager in the chain and works outside a-press: nobody takes over.
    assert plan.handovers == (Handover("press", "ann", None),)
    assert plan.account_scope == {"press", "jobs"}


# --- the event that starts it, the event that ends it --------------------------------------------
def employee_event(kind: str, **extra: object) -> Event:
    data = {
        "employee_id": "ann",
        "email": "ann@example.com",
        "given_name": "Ann",
        "family_name": "A",
        "unit_id": "a-press",
        "unit_path": ["a-press", "sub-a", "company"],
        "manager_id": "cat",
        "manager_chain": ["cat", "eve"],
        "roles": [],
        "status": "offboarded" if kind == "offboarded" else "active",
        **extra,
    }
    return Event(
        id=f"id-{kind}",
        type=f"chorus.identity.employee.{kind}",
        source="/chorus/identity",
        subject="ann",
        time=datetime.now(UTC),
        sequence=3,
        data=data,
    )


def test_departures_are_read_from_identitys_events() -> None:
    left = departure_from(
        employee_event("offboarded", offboarded_at=datetime.now(UTC).isoformat(), reason="left")
    )
    assert left.trigger is Trigger.OFFBOARDED and left.leaves
    assert left.offboarding_id == offboarding_id("id-offboarded")
    assert left.person.manager_chain == ("cat", "eve")
    assert left.person.unit_path == ("a-press", "sub-a", "company")
    moved = departure_from(employee_event("moved", previous_unit_id="sub-b"))
    assert moved.trigger is Trigger.MOVED and not moved.leaves
    assert moved.previous_unit_id == "sub-b"


def test_the_completion_is_the_same_two_events_however_often_it_is_computed() -> None:
    ann = departure("ann", Trigger.OFFBOARDED, ("company",))
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def compute() -> tuple[str, ...]:
        done = completion(
            ann,
            grants_revoked=["g2", "g1", "g1"],
            leases_ended=[],
            secrets_flagged=["s1"],
            handovers=[Handover("b", "ann", None), Handover("a", "ann", "eve")],
            connector_calls=2,
            at=at,
        )
        assert done.grants_revoked == ["g1", "g2"]
        assert [o.account_id for o in done.ownership] == ["a", "b"]
        record = completed(done, actor="system", unit_id="company")
        assert [e.type for e in record.pending_events] == [
            "chorus.access.offboarding.completed",
            "chorus.access.audit.recorded",
        ]
        assert [e.sequence for e in record.pending_events] == [1, 2]
        return tuple(e.id for e in record.pending_events)

    assert compute() == compute()


def test_a_grant_two_events_of_a_batch_end_is_ended_by_the_first() -> None:
    suspended = departure("ann", Trigger.SUSPENDED, ("company",), ("eve",))
    left = departure("ann", Trigger.OFFBOARDED, ("company",), ("eve",))
    first, second = plan_departures(
        [suspended, left],
        open_grants={"ann": [OpenGrant("g", "x", "company", "viewer")]},
        accounts={},
        people=PEOPLE,
    )
    assert [g.grant_id for g in first.grants] == ["g"] and second.grants == ()
