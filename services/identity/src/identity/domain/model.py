"""Employees and the lifecycle rules: who may be hired, who may leave, what each emits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from chorus_kit.errors import Conflict
from chorus_kit.events import Event, new_event
from chorus_kit.events.identity import (
    EmployeeHired,
    EmployeeOffboarded,
    EmployeeSnapshot,
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
    event = new_event(
        "chorus.identity.employee.hired",
        source=SOURCE,
        subject=employee.id,
        sequence=1,
        data=EmployeeHired(**employee.snapshot(), start_date=employee.start_date),
    )
    return replace(employee, sequence=1, pending_events=(event,))


def offboard(employee: Employee, *, reason: str, at: datetime | None = None) -> Employee:
    """The employee after leaving; offboarding twice is a conflict, not a second event."""
    if employee.status is EmploymentStatus.OFFBOARDED:
        raise Conflict(f"employee {employee.id} is already offboarded", code="already_offboarded")
    when = at or datetime.now(UTC)
    left = replace(
        employee,
        status=EmploymentStatus.OFFBOARDED,
        offboarded_at=when,
        offboard_reason=reason,
        sequence=employee.sequence + 1,
    )
    offboarded = new_event(
        "chorus.identity.employee.offboarded",
        source=SOURCE,
        subject=employee.id,
        sequence=left.sequence,
        data=EmployeeOffboarded(**left.snapshot(), offboarded_at=when, reason=reason),
    )
    # Leaving ends every session at once: verifiers refuse tokens issued before now.
    sessions_revoked = new_event(
        "chorus.identity.session.revoked",
        source=SOURCE,
        subject=employee.id,
        sequence=left.sequence + 1,
        data=SessionsRevoked(person_id=employee.id, revoked_before=when, reason="offboarded"),
    )
    return replace(left, sequence=left.sequence + 1, pending_events=(offboarded, sessions_revoked))
