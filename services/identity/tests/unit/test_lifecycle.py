"""Lifecycle rules of the pure domain."""

import pytest

from chorus_kit.errors import ChorusError, Conflict
from chorus_kit.events.identity import EmploymentStatus, Role, RoleAssignment
from identity.domain.commands import HireEmployee, UpdateProfile
from identity.domain.model import (
    change_roles,
    hire,
    move,
    offboard,
    rehire,
    reinstate,
    suspend,
    update_profile,
)


def new_hire():
    return hire(
        HireEmployee(
            email="Grace@Example.com",
            given_name="Grace",
            family_name="Hopper",
            unit_id="navy",
            manager_id="m1",
        ),
        manager_chain=("m1", "m0"),
        unit_path=("navy", "company"),
    )


def test_hiring_raises_hired_with_the_manager_chain() -> None:
    employee = new_hire()
    assert employee.status is EmploymentStatus.ACTIVE and employee.email == "grace@example.com"
    (event,) = employee.pending_events
    assert event.type == "chorus.identity.employee.hired" and event.sequence == 1
    assert event.data["manager_chain"] == ["m1", "m0"] and event.subject == employee.id


def test_offboarding_raises_offboarded_once() -> None:
    left = offboard(new_hire(), reason="resigned")
    assert left.status is EmploymentStatus.OFFBOARDED and left.sequence == 3
    offboarded, revoked = left.pending_events
    assert offboarded.type == "chorus.identity.employee.offboarded" and offboarded.sequence == 2
    assert revoked.type == "chorus.identity.session.revoked" and revoked.sequence == 3
    assert revoked.data["revoked_before"] == offboarded.data["offboarded_at"]
    with pytest.raises(Conflict) as caught:
        offboard(left, reason="again")
    assert caught.value.code == "already_offboarded"


def test_suspension_ends_sessions_and_reinstatement_reactivates() -> None:
    paused = suspend(new_hire(), reason="investigation")
    assert paused.status is EmploymentStatus.SUSPENDED
    assert [e.type for e in paused.pending_events] == [
        "chorus.identity.employee.suspended",
        "chorus.identity.session.revoked",
    ]
    back = reinstate(paused)
    assert back.status is EmploymentStatus.ACTIVE and back.sequence == paused.sequence + 1


@pytest.mark.parametrize(
    ("transition", "code"),
    [
        (lambda e: reinstate(e), "not_suspended"),
        (lambda e: suspend(suspend(e, reason="x"), reason="x"), "not_active"),
        (
            lambda e: rehire(
                e, unit_id="u", unit_path=("u",), manager_id=None, manager_chain=(), roles=()
            ),
            "not_offboarded",
        ),
        (
            lambda e: move(
                offboard(e, reason="x"),
                unit_id="u2",
                unit_path=("u2",),
                manager_id=None,
                manager_chain=(),
            ),
            "not_employed",
        ),
        (
            lambda e: move(
                e,
                unit_id=e.unit_id,
                unit_path=e.unit_path,
                manager_id=e.manager_id,
                manager_chain=e.manager_chain,
            ),
            "nothing_to_change",
        ),
        (lambda e: change_roles(e, roles=e.roles), "nothing_to_change"),
        (
            lambda e: move(
                e, unit_id="u2", unit_path=("u2",), manager_id="x", manager_chain=("x", e.id)
            ),
            "manager_cycle",
        ),
    ],
)
def test_illegal_transitions_are_conflicts_with_a_code(transition, code) -> None:
    with pytest.raises(Conflict) as caught:
        transition(new_hire())
    assert caught.value.code == code


def test_move_records_where_from_and_rehire_starts_a_new_employment() -> None:
    moved = move(
        new_hire(), unit_id="air", unit_path=("air",), manager_id="m9", manager_chain=("m9",)
    )
    (event,) = moved.pending_events
    assert event.data["previous_unit_id"] == "navy" and event.data["unit_id"] == "air"
    left = offboard(moved, reason="retired")
    back = rehire(
        left,
        unit_id="navy",
        unit_path=("navy",),
        manager_id=None,
        manager_chain=(),
        roles=(RoleAssignment(role=Role.COMMS, unit="navy"),),
    )
    assert back.status is EmploymentStatus.ACTIVE and back.offboarded_at is None
    (rehired,) = back.pending_events
    assert rehired.type == "chorus.identity.employee.rehired"
    assert rehired.sequence == left.sequence + 1 and rehired.data["roles"][0]["role"] == "comms"


def test_profile_updates_name_what_changed_and_refuse_no_ops() -> None:
    employee = new_hire()
    updated = update_profile(
        employee,
        UpdateProfile(title="Rear Admiral", social_handles={"linkedin": "grace-hopper"}),
    )
    (event,) = updated.pending_events
    assert event.type == "chorus.identity.employee.updated"
    assert event.data["changed"] == ["social_handles", "title"]
    assert event.data["social_handles"] == {"linkedin": "grace-hopper"}
    with pytest.raises(Conflict) as caught:
        update_profile(updated, UpdateProfile(title="Rear Admiral"))
    assert caught.value.code == "nothing_to_change"
    cleared = update_profile(updated, UpdateProfile(title=None))
    assert cleared.title is None
    with pytest.raises(ChorusError):
        update_profile(updated, UpdateProfile(given_name=None))
