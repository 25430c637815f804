"""Lifecycle rules of the pure domain."""

import pytest

from chorus_kit.errors import Conflict
from chorus_kit.events.identity import EmploymentStatus
from identity.domain.commands import HireEmployee
from identity.domain.model import hire, offboard


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
