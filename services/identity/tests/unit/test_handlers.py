"""Identity's use cases with an in-memory store: authorisation and lifecycle, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict, Forbidden, NotFound, PreconditionFailed
from chorus_kit.events import Event
from chorus_kit.events.identity import EmploymentStatus, Role, RoleAssignment, UnitKind
from identity.domain.commands import HireEmployee, OffboardEmployee, UpdateProfile
from identity.domain.model import Employee
from identity.domain.org_units import OrgTree, OrgUnit
from identity.handlers import IdentityHandlers


class InMemoryEmployees:
    """The same contract as the Mongo store: unique email among staff, conditional save."""

    def __init__(self) -> None:
        self.rows: dict[str, Employee] = {}

    async def add(self, employee: Employee) -> None:
        if any(
            e.email == employee.email and e.status is not EmploymentStatus.OFFBOARDED
            for e in self.rows.values()
        ):
            raise Conflict("taken", code="email_taken")
        self.rows[employee.id] = replace(employee, pending_events=())

    async def get(self, employee_id: str) -> Employee:
        if employee_id not in self.rows:
            raise NotFound("no", code="employee_not_found")
        return self.rows[employee_id]

    async def save(self, employee: Employee, *, expected_sequence: int) -> None:
        if self.rows[employee.id].sequence != expected_sequence:
            raise Conflict("changed", code="concurrent_change")
        self.rows[employee.id] = replace(employee, pending_events=())

    async def count_in_unit(self, unit_id: str) -> int:
        return sum(1 for e in self.rows.values() if e.unit_id == unit_id)

    async def due_offboardings(self, now: datetime, *, limit: int = 100) -> list[Employee]:
        return [
            e
            for e in self.rows.values()
            if e.scheduled_offboarding and e.scheduled_offboarding.at <= now
        ][:limit]


class InMemoryUnits:
    """company → dept-a, dept-b."""

    def __init__(self) -> None:
        self.rows = {
            "company": OrgUnit(id="company", name="Co", kind=UnitKind.COMPANY, parent_id=None),
            "dept-a": OrgUnit(id="dept-a", name="A", kind=UnitKind.DEPARTMENT, parent_id="company"),
            "dept-b": OrgUnit(id="dept-b", name="B", kind=UnitKind.DEPARTMENT, parent_id="company"),
        }

    async def tree(self) -> OrgTree:
        return OrgTree(self.rows.values())

    async def add(self, unit: OrgUnit) -> None:
        self.rows[unit.id] = replace(unit, pending_events=())

    async def save(self, unit: OrgUnit, *, expected_sequence: int) -> None:
        self.rows[unit.id] = replace(unit, pending_events=())


def principal(role: Role, unit: str, sub: str = "caller") -> Principal:
    return Principal(
        sub=sub,
        roles=(RoleAssignment(role=role, unit=unit),),
        issued_at=datetime.now(UTC),
        token_id="t",
    )


@pytest.fixture
def handlers() -> tuple[IdentityHandlers, list[tuple[str, list[Event]]]]:
    written: list[tuple[str, list[Event]]] = []
    return IdentityHandlers(
        employees=InMemoryEmployees(),
        units=InMemoryUnits(),
        events_written=lambda _, employee_id, events: written.append((employee_id, list(events))),
    ), written


def hire_command(unit: str = "dept-a", manager_id: str | None = None) -> HireEmployee:
    return HireEmployee(
        email="x@example.com", given_name="X", family_name="Y", unit_id=unit, manager_id=manager_id
    )


async def test_hire_hands_its_event_to_the_relay(handlers) -> None:
    use_cases, written = handlers
    employee = await use_cases.hire_employee(hire_command(), by=principal(Role.ADMIN, "company"))
    assert [(i, [e.type for e in evs]) for i, evs in written] == [
        (employee.id, ["chorus.identity.employee.hired", "chorus.identity.audit.recorded"])
    ]
    audit = written[0][1][1].data
    assert audit["actor"] == "caller" and audit["action"] == "employee.hired"


async def test_manager_chain_is_resolved_from_the_manager(handlers) -> None:
    use_cases, _ = handlers
    admin = principal(Role.ADMIN, "company")
    boss = await use_cases.hire_employee(
        HireEmployee(email="b@example.com", given_name="B", family_name="B", unit_id="company"),
        by=admin,
    )
    mid = await use_cases.hire_employee(
        HireEmployee(
            email="m@example.com",
            given_name="M",
            family_name="M",
            unit_id="company",
            manager_id=boss.id,
        ),
        by=admin,
    )
    report = await use_cases.hire_employee(hire_command(manager_id=mid.id), by=admin)
    assert report.manager_chain == (mid.id, boss.id)


@pytest.mark.parametrize("role", [Role.COMMS, Role.ANALYST, Role.EMPLOYEE, Role.AUDITOR])
async def test_only_admins_hire(handlers, role) -> None:
    use_cases, written = handlers
    with pytest.raises(Forbidden):
        await use_cases.hire_employee(hire_command(), by=principal(role, "company"))
    assert written == []


async def test_admin_scope_is_the_unit(handlers) -> None:
    use_cases, _ = handlers
    employee = await use_cases.hire_employee(
        hire_command("dept-a"), by=principal(Role.ADMIN, "dept-a")
    )
    with pytest.raises(Forbidden):
        await use_cases.offboard_employee(
            employee.id, OffboardEmployee(reason="r"), by=principal(Role.ADMIN, "dept-b")
        )
    left = await use_cases.offboard_employee(
        employee.id, OffboardEmployee(reason="r"), by=principal(Role.ADMIN, "dept-a")
    )
    assert left.status is EmploymentStatus.OFFBOARDED


async def test_reading_is_for_the_person_admins_and_auditors(handlers) -> None:
    use_cases, _ = handlers
    employee = await use_cases.hire_employee(hire_command(), by=principal(Role.ADMIN, "company"))
    await use_cases.get_employee(employee.id, by=principal(Role.EMPLOYEE, "x", sub=employee.id))
    await use_cases.get_employee(employee.id, by=principal(Role.AUDITOR, "dept-a"))
    with pytest.raises(Forbidden):
        await use_cases.get_employee(employee.id, by=principal(Role.COMMS, "company"))


async def test_a_scheduled_offboarding_runs_when_due_and_only_once(handlers) -> None:
    use_cases, written = handlers
    admin = principal(Role.ADMIN, "company")
    employee = await use_cases.hire_employee(hire_command(), by=admin)
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduled = await use_cases.offboard_employee(
        employee.id, OffboardEmployee(reason="contract ends", at=later), by=admin
    )
    assert scheduled.status is EmploymentStatus.ACTIVE
    assert scheduled.scheduled_offboarding is not None
    assert await use_cases.run_due_offboardings(datetime.now(UTC)) == 0
    assert await use_cases.run_due_offboardings(later) == 1
    assert await use_cases.run_due_offboardings(later) == 0
    left = await use_cases.employees.get(employee.id)
    assert left.status is EmploymentStatus.OFFBOARDED and left.offboarded_at == later
    types = [e.type for _, events in written for e in events]
    assert types.count("chorus.identity.employee.offboarded") == 1


async def test_a_scheduled_offboarding_can_be_cancelled(handlers) -> None:
    use_cases, _ = handlers
    admin = principal(Role.ADMIN, "company")
    employee = await use_cases.hire_employee(hire_command(), by=admin)
    later = datetime.now(UTC) + timedelta(hours=1)
    await use_cases.offboard_employee(employee.id, OffboardEmployee(reason="r", at=later), by=admin)
    kept = await use_cases.cancel_scheduled_offboarding(employee.id, by=admin)
    assert kept.scheduled_offboarding is None
    assert await use_cases.run_due_offboardings(later) == 0


async def test_hiring_into_a_missing_unit_is_refused(handlers) -> None:
    use_cases, _ = handlers
    with pytest.raises(ChorusError) as refused:
        await use_cases.hire_employee(hire_command("nowhere"), by=principal(Role.ADMIN, "company"))
    assert refused.value.code == "unit_not_found"


async def test_a_stale_version_is_a_failed_precondition(handlers) -> None:
    use_cases, _ = handlers
    admin = principal(Role.ADMIN, "company")
    employee = await use_cases.hire_employee(hire_command(), by=admin)
    with pytest.raises(PreconditionFailed):
        await use_cases.update_profile(
            employee.id, UpdateProfile(title="CEO"), by=admin, if_sequence=employee.sequence - 1
        )
    updated = await use_cases.update_profile(
        employee.id, UpdateProfile(title="CEO"), by=admin, if_sequence=employee.sequence
    )
    assert updated.title == "CEO"
