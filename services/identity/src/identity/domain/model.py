"""Employees and the lifecycle rules: who may be hired, who may leave, what each emits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pydantic import BaseModel

from chorus_kit.errors import ChorusError, Conflict
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
    EmployeeUpdated,
    EmploymentStatus,
    RoleAssignment,
    SessionsRevoked,
    SocialNetwork,
)
from identity.domain.commands import PROFILE_FIELDS, HireEmployee, UpdateProfile

SOURCE = "/chorus/identity"


@dataclass(frozen=True)
class ScheduledOffboarding:
    at: datetime
    reason: str


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
    unit_path: tuple[str, ...] = ()
    title: str | None = None
    location: str | None = None
    social_handles: tuple[tuple[SocialNetwork, str], ...] = ()
    employee_number: str | None = None
    external_id: str | None = None
    sequence: int = 0
    offboarded_at: datetime | None = None
    offboard_reason: str | None = None
    scheduled_offboarding: ScheduledOffboarding | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    pending_events: tuple[Event, ...] = field(default=())

    @property
    def handles(self) -> dict[SocialNetwork, str]:
        return dict(self.social_handles)

    def snapshot(self) -> dict[str, object]:
        return EmployeeSnapshot(
            employee_id=self.id,
            email=self.email,
            given_name=self.given_name,
            family_name=self.family_name,
            unit_id=self.unit_id,
            unit_path=list(self.unit_path),
            manager_id=self.manager_id,
            manager_chain=list(self.manager_chain),
            roles=list(self.roles),
            status=self.status,
            title=self.title,
            location=self.location,
            social_handles=self.handles,
            employee_number=self.employee_number,
            external_id=self.external_id,
        ).model_dump()

    def with_events(self, *extra: Event) -> Employee:
        """The same change, carrying `extra` events too (numbered by the caller)."""
        return replace(self, pending_events=(*self.pending_events, *extra))


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


def _handles(handles: dict[SocialNetwork, str] | None) -> tuple[tuple[SocialNetwork, str], ...]:
    return tuple(sorted((handles or {}).items()))


def hire(
    command: HireEmployee, *, manager_chain: tuple[str, ...], unit_path: tuple[str, ...]
) -> Employee:
    """A new active employee, with the `hired` event it raises."""
    now = datetime.now(UTC)
    employee = Employee(
        id=str(uuid.uuid4()),
        email=str(command.email).lower(),
        given_name=command.given_name,
        family_name=command.family_name,
        unit_id=command.unit_id,
        unit_path=unit_path,
        manager_id=command.manager_id,
        manager_chain=manager_chain,
        roles=tuple(dict.fromkeys(command.roles)),
        status=EmploymentStatus.ACTIVE,
        start_date=command.start_date or now,
        title=command.title,
        location=command.location,
        social_handles=_handles(command.social_handles),
        employee_number=command.employee_number,
        external_id=command.external_id,
        created_at=now,
    )
    hired = EmployeeHired(**employee.snapshot(), start_date=employee.start_date)
    return _raising(employee, employee, ("chorus.identity.employee.hired", hired))


def update_profile(employee: Employee, command: UpdateProfile) -> Employee:
    """New profile values; only fields the command names change, and only if they differ."""
    _require(employee, EmploymentStatus.ACTIVE, EmploymentStatus.SUSPENDED, code="not_employed")
    given = command.model_dump(include=set(PROFILE_FIELDS), exclude_unset=True)
    changes: dict[str, object] = {}
    for name, value in given.items():
        if name in ("given_name", "family_name", "email") and value is None:
            raise ChorusError(f"{name} cannot be cleared", code="required_field")
        if name == "email":
            value = str(value).lower()
        if name == "social_handles":
            value = _handles(command.social_handles)
        if getattr(employee, name) != value:
            changes[name] = value
    if not changes:
        raise Conflict("the profile already holds these values", code="nothing_to_change")
    updated = replace(employee, **changes)  # type: ignore[arg-type]
    data = EmployeeUpdated(**updated.snapshot(), changed=sorted(changes))
    return _raising(employee, updated, ("chorus.identity.employee.updated", data))


def schedule_offboarding(employee: Employee, *, reason: str, at: datetime) -> Employee:
    """An offboarding the scheduler runs at `at` (a later request replaces the date)."""
    if employee.status is EmploymentStatus.OFFBOARDED:
        raise Conflict(f"employee {employee.id} is already offboarded", code="already_offboarded")
    return replace(
        employee,
        scheduled_offboarding=ScheduledOffboarding(at=at, reason=reason),
        pending_events=(),
    )


def cancel_scheduled_offboarding(employee: Employee) -> Employee:
    if employee.scheduled_offboarding is None:
        raise Conflict("no offboarding is scheduled", code="nothing_scheduled")
    return replace(employee, scheduled_offboarding=None, pending_events=())


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
        scheduled_offboarding=None,
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
    unit_path: tuple[str, ...],
    manager_id: str | None,
    manager_chain: tuple[str, ...],
) -> Employee:
    """A change of unit (with its new manager); leavers do not move."""
    _require(employee, EmploymentStatus.ACTIVE, EmploymentStatus.SUSPENDED, code="not_employed")
    if unit_id == employee.unit_id and manager_id == employee.manager_id:
        raise Conflict("the employee is already there", code="nothing_to_change")
    if employee.id in manager_chain:
        raise Conflict("an employee cannot report to themselves", code="manager_cycle")
    moved = replace(
        employee,
        unit_id=unit_id,
        unit_path=unit_path,
        manager_id=manager_id,
        manager_chain=manager_chain,
    )
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
    unit_path: tuple[str, ...],
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
        unit_path=unit_path,
        manager_id=manager_id,
        manager_chain=manager_chain,
        roles=tuple(dict.fromkeys(roles)),
        start_date=start_date or datetime.now(UTC),
        offboarded_at=None,
        offboard_reason=None,
    )
    data = EmployeeRehired(**back.snapshot(), start_date=back.start_date)
    return _raising(employee, back, ("chorus.identity.employee.rehired", data))
