"""The employment view's updates, computed from events (pure)."""

from datetime import UTC, datetime

from access.domain.employment import hired_update, offboarded_update
from chorus_kit.events import new_event
from chorus_kit.events.identity import EmployeeHired, EmployeeOffboarded, EmploymentStatus

PERSON = {
    "employee_id": "e1",
    "email": "e1@example.com",
    "given_name": "E",
    "family_name": "One",
    "unit_id": "u1",
    "unit_path": ["u1", "company"],
    "roles": [{"role": "comms", "unit": "u1"}],
    "manager_chain": ["m1"],
}


def test_hire_then_leave() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    hired = new_event(
        "chorus.identity.employee.hired",
        source="/t",
        subject="e1",
        sequence=1,
        data=EmployeeHired(**PERSON, status=EmploymentStatus.ACTIVE, start_date=start),
    )
    update = hired_update(hired)
    assert update["$set"]["status"] == "active" and update["$set"]["employed_since"] == start
    assert update["$set"]["unit_path"] == ["u1", "company"]
    assert update["$set"]["roles"] == [{"role": "comms", "unit": "u1"}]
    assert update["$push"]["history"]["event_id"] == hired.id
    end = datetime(2026, 6, 1, tzinfo=UTC)
    left = new_event(
        "chorus.identity.employee.offboarded",
        source="/t",
        subject="e1",
        sequence=2,
        data=EmployeeOffboarded(
            **PERSON, status=EmploymentStatus.OFFBOARDED, offboarded_at=end, reason="r"
        ),
    )
    update = offboarded_update(left)
    assert update["$set"]["employed_until"] == end and update["$set"]["manager_chain"] == ["m1"]


def test_every_employee_event_type_updates_the_view() -> None:
    from access.domain.employment import VIEW_UPDATES, view_update
    from chorus_kit.events.identity import EmployeeMoved

    moved = new_event(
        "chorus.identity.employee.moved",
        source="/t",
        subject="e1",
        sequence=3,
        data=EmployeeMoved(
            **{**PERSON, "unit_id": "u2"}, status=EmploymentStatus.SUSPENDED, previous_unit_id="u1"
        ),
    )
    update = view_update(moved)
    assert update["$set"]["unit_id"] == "u2" and update["$set"]["status"] == "suspended"
    assert {t.rsplit(".", 1)[1] for t in VIEW_UPDATES} == {
        "hired",
        "rehired",
        "offboarded",
        "suspended",
        "reinstated",
        "moved",
        "role_changed",
        "updated",
    }
