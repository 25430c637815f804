"""Employees and the lifecycle rules: who may be hired, who may leave, what each emits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pydantic import BaseModel

from chorus_kit.errors import Conflict
from chorus_kit.events import Event, new_event
from chorus_kit.events.identity import (
    EmployeeHired,
    EmployeeMoved,
    EmployeeOffboarded,
    EmployeeRehired,
    EmployeeReinstated,
    EmployeeRoleChanged,
    EmployeeSnapshot,
    EmployeeSuspended,
    EmploymentStatus,
    RoleAssignment,
    SessionsRevoked,
)
from identity.domain.commands import HireEmployee

SOURCE = "/chorus/identity"


@dataclass(frozen=True)
class Employee:
    id: str
    email: str
    given_name: str
    family_name: str
    unit_id: str
    manager_id: str | None
    manager_chain: tuple[str, ...]
    roles: tuple[RoleAssignment, ...]
    status: EmploymentStatus
    start_date: datetime
    sequence: int = 0
    offboarded_at: datetime | None = None
    offboard_reason: str | None = None
    pending_events: tuple[Event, ...] = field(default=())

    def snapshot(self) -> dict[str, object]:
        return EmployeeSnapshot(
            employee_id=self.id,
            email=self.email,
            given_name=self.given_name,
            family_name=self.family_name,
            unit_id=self.unit_id,
            manager_id=self.manager_id,
            manager_chain=list(self.manager_chain),
            roles=list(self.roles),
            status=self.status,
        ).model_dump()


def _raising(before: Employee, after: Employee, *raised: tuple[str, BaseModel]) -> Employee:
    """`after`, carrying the events raised, numbered on from `before`'s sequence."""
    sequence = before.sequence
    events = []
    for type_name, data in raised:
        sequence += 1
        events.append(
            new_event(type_name, source=SOURCE, subject=before.id, sequence=sequence, data=data)
        )
    return replace(after, sequence=sequence, pending_events=tuple(events))


def _revoke_sessions(employee: Employee, *, at: datetime, reason: str) -> tuple[str, BaseModel]:
    # Verifiers refuse every token the person was issued before `at`.
    return (
        "chorus.identity.session.revoked",
        SessionsRevoked(person_id=employee.id, revoked_before=at, reason=reason),
    )


def _require(employee: Employee, *allowed: EmploymentStatus, code: str) -> None:
    if employee.status not in allowed:
        raise Conflict(f"employee {employee.id} is {employee.status.value}", code=code)


def hire(command: HireEmployee, *, manager_chain: tuple[str, ...]) -> Employee:
    """A new active employee, with the `hired` event it raises."""
    employee = Employee(
        id=str(uuid.uuid4()),
        email=str(command.email).lower(),
        given_name=command.given_name,
        family_name=command.family_name,
        unit_id=command.unit_id,
        manager_id=command.manager_id,
        manager_chain=manager_chain,
        roles=tuple(command.roles),
        status=EmploymentStatus.ACTIVE,
        start_date=command.start_date or datetime.now(UTC),
    )
    hired = EmployeeHired(**employee.snapshot(), start_date=employee.start_date)
    return _raising(employee, employee, ("chorus.identity.employee.hired", hired))


def offboard(employee: Employee, *, reason: str, at: datetime | None = None) -> Employee:
    """The employee after leaving; offboarding twice is a conflict, not a second event."""
    if employee.status is EmploymentStatus.OFFBOARDED:
        raise Conflict(f"employee {employee.id} is already offboarded", code="already_offboarded")
    when = at or datetime.now(UTC)
    left = replace(
        employee, status=EmploymentStatus.OFFBOARDED, offboarded_at=when, offboard_reason=reason
    )
    offboarded = EmployeeOffboarded(**left.snapshot(), offboarded_at=when, reason=reason)
    return _raising(
        employee,
        left,
        ("chorus.identity.employee.offboarded", offboarded),
        _revoke_sessions(employee, at=when, reason="offboarded"),
    )


def suspend(employee: Employee, *, reason: str, at: datetime | None = None) -> Employee:
    """Access paused: only an active employee can be suspended, and their sessions end."""
    _require(employee, EmploymentStatus.ACTIVE, code="not_active")
    when = at or datetime.now(UTC)
    paused = replace(employee, status=EmploymentStatus.SUSPENDED)
    suspended = EmployeeSuspended(**paused.snapshot(), suspended_at=when, reason=reason)
    return _raising(
        employee,
        paused,
        ("chorus.identity.employee.suspended", suspended),
        _revoke_sessions(employee, at=when, reason="suspended"),
    )


def reinstate(employee: Employee, *, at: datetime | None = None) -> Employee:
    _require(employee, EmploymentStatus.SUSPENDED, code="not_suspended")
    back = replace(employee, status=EmploymentStatus.ACTIVE)
    reinstated = EmployeeReinstated(**back.snapshot(), reinstated_at=at or datetime.now(UTC))
    return _raising(employee, back, ("chorus.identity.employee.reinstated", reinstated))


def move(
    employee: Employee,
    *,
    unit_id: str,
    manager_id: str | None,
    manager_chain: tuple[str, ...],
) -> Employee:
    """A change of unit (with its new manager); leavers do not move."""
    _require(employee, EmploymentStatus.ACTIVE, EmploymentStatus.SUSPENDED, code="not_employed")
    if unit_id == employee.unit_id and manager_id == employee.manager_id:
        raise Conflict("the employee is already there", code="nothing_to_change")
    if employee.id in manager_chain:
        raise Conflict("an employee cannot report to themselves", code="manager_cycle")
    moved = replace(employee, unit_id=unit_id, manager_id=manager_id, manager_chain=manager_chain)
    data = EmployeeMoved(
        **moved.snapshot(),
        previous_unit_id=employee.unit_id,
        previous_manager_id=employee.manager_id,
    )
    return _raising(employee, moved, ("chorus.identity.employee.moved", data))


def change_roles(employee: Employee, *, roles: tuple[RoleAssignment, ...]) -> Employee:
    _require(employee, EmploymentStatus.ACTIVE, EmploymentStatus.SUSPENDED, code="not_employed")
    unique = tuple(dict.fromkeys(roles))
    if set(unique) == set(employee.roles):
        raise Conflict("the employee already holds exactly these roles", code="nothing_to_change")
    changed = replace(employee, roles=unique)
    data = EmployeeRoleChanged(**changed.snapshot(), previous_roles=list(employee.roles))
    return _raising(employee, changed, ("chorus.identity.employee.role_changed", data))


def rehire(
    employee: Employee,
    *,
    unit_id: str,
    manager_id: str | None,
    manager_chain: tuple[str, ...],
    roles: tuple[RoleAssignment, ...],
    start_date: datetime | None = None,
) -> Employee:
    """A former employee back: same person (same id), a new employment."""
    _require(employee, EmploymentStatus.OFFBOARDED, code="not_offboarded")
    back = replace(
        employee,
        status=EmploymentStatus.ACTIVE,
        unit_id=unit_id,
        manager_id=manager_id,
        manager_chain=manager_chain,
        roles=roles,
        start_date=start_date or datetime.now(UTC),
        offboarded_at=None,
        offboard_reason=None,
    )
    data = EmployeeRehired(**back.snapshot(), start_date=back.start_date)
    return _raising(employee, back, ("chorus.identity.employee.rehired", data))
