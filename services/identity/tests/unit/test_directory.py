"""The in-memory staff directory: newest state wins, pages in id order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chorus_kit.events.identity import EmploymentStatus
from identity.domain.commands import EmployeeFilter
from identity.domain.directory import EmployeeDirectory
from identity.domain.model import Employee, ScheduledOffboarding


def _person(n: int, *, sequence: int = 1, unit: str = "dept-a", family: str = "Doe") -> Employee:
    return Employee(
        id=f"e{n:03d}",
        email=f"person{n}@example.com",
        given_name="Pat",
        family_name=family,
        unit_id=unit,
        manager_id=None,
        manager_chain=(),
        roles=(),
        status=EmploymentStatus.ACTIVE,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        sequence=sequence,
    )


def test_a_late_read_of_an_older_state_does_not_undo_a_newer_one() -> None:
    directory = EmployeeDirectory()
    newer = replace(_person(1, sequence=3), status=EmploymentStatus.OFFBOARDED)
    directory.put(newer)
    directory.put(_person(1, sequence=2))
    assert directory.get_many(["e001"]) == [newer]
    assert directory.knows("e001", 3) and not directory.knows("e001", 4)
    assert not directory.knows("e999", 1)


def test_pages_follow_id_order_from_the_cursor_whatever_the_order_of_arrival() -> None:
    directory = EmployeeDirectory()
    for n in (7, 2, 9, 4, 1):
        directory.put(_person(n, unit="dept-b" if n == 4 else "dept-a"))
    everyone = EmployeeFilter()
    first = directory.search(everyone, units=None, also_id=None, after=None, limit=2)
    assert [e.id for e in first] == ["e001", "e002"]
    rest = directory.search(everyone, units=None, also_id=None, after="e002", limit=10)
    assert [e.id for e in rest] == ["e004", "e007", "e009"]
    scoped = directory.search(everyone, units={"dept-b"}, also_id="e009", after=None, limit=10)
    assert [e.id for e in scoped] == ["e004", "e009"]


def test_search_matches_email_prefix_or_family_name_prefix_ignoring_case() -> None:
    directory = EmployeeDirectory()
    directory.put(_person(1, family="Zeta"))
    directory.put(_person(12, family="Alpha"))
    found = directory.search(EmployeeFilter(q="zE"), units=None, also_id=None, after=None, limit=9)
    assert [e.id for e in found] == ["e001"]
    found = directory.search(
        EmployeeFilter(q="person1"), units=None, also_id=None, after=None, limit=9
    )
    assert [e.id for e in found] == ["e001", "e012"]


def test_due_offboardings_are_those_whose_time_has_come_earliest_first_as_last_known() -> None:
    directory = EmployeeDirectory()
    now = datetime(2026, 6, 1, tzinfo=UTC)

    def leaving(n: int, minutes: int, *, sequence: int = 1) -> Employee:
        at = now + timedelta(minutes=minutes)
        return replace(
            _person(n, sequence=sequence),
            scheduled_offboarding=ScheduledOffboarding(at=at, reason="contract ends"),
        )

    for person in (leaving(1, -1), leaving(2, -5), leaving(3, 10), _person(4)):
        directory.put(person)
    assert [e.id for e in directory.due_offboardings(now, limit=10)] == ["e002", "e001"]
    assert [e.id for e in directory.due_offboardings(now, limit=1)] == ["e002"]
    # Cancelled (a newer state without a schedule), then an older read arriving late.
    directory.put(_person(2, sequence=2))
    directory.put(leaving(2, -5))
    assert [e.id for e in directory.due_offboardings(now, limit=10)] == ["e001"]
    assert [e.id for e in directory.due_offboardings(now + timedelta(hours=1), limit=10)] == [
        "e001",
        "e003",
    ]
