"""Which grants a leaver, a suspended person or a mover loses, and who takes over ownership."""

from __future__ import annotations

from access.domain.offboarding import (
    OpenGrant,
    Person,
    Trigger,
    grants_to_revoke,
    next_owner,
    offboarding_id,
)

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
