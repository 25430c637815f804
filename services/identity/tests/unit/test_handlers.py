"""Identity's use cases with an in-memory store: authorisation and lifecycle, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chorus_kit.auth import Principal
from chorus_kit.errors import Conflict, Forbidden, NotFound
from chorus_kit.events import Event
from chorus_kit.events.identity import EmploymentStatus, Role, RoleAssignment
from identity.domain.commands import HireEmployee, OffboardEmployee
from identity.domain.model import Employee
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
        root_unit="company",
        events_written=lambda employee_id, events: written.append((employee_id, list(events))),
    ), written


def hire_command(unit: str = "dept-a", manager_id: str | None = None) -> HireEmployee:
    return HireEmployee(
        email="x@example.com", given_name="X", family_name="Y", unit_id=unit, manager_id=manager_id
    )


async def test_hire_hands_its_event_to_the_relay(handlers) -> None:
    use_cases, written = handlers
    employee = await use_cases.hire_employee(hire_command(), by=principal(Role.ADMIN, "company"))
    assert [(i, [e.type for e in evs]) for i, evs in written] == [
        (employee.id, ["chorus.identity.employee.hired"])
    ]


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
