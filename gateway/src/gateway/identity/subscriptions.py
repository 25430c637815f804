"""Identity's live events: an employee changed (hired, moved, left, ...)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum

import strawberry

from chorus_kit.events.catalogue import CATALOGUE, EMPLOYEE
from chorus_kit.events.envelope import Event
from chorus_kit.events.identity import EmploymentStatus
from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.identity.types import Employee, load_employee
from gateway.permissions import may_see_employee_change
from gateway.streams import live_events

EMPLOYEE_EVENT_TYPES = frozenset(t for t, e in CATALOGUE.items() if e.topic is EMPLOYEE)


@strawberry.enum
class EmployeeChangeKind(Enum):
    HIRED = "hired"
    UPDATED = "updated"
    MOVED = "moved"
    ROLE_CHANGED = "role_changed"
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"
    OFFBOARDED = "offboarded"
    REHIRED = "rehired"


@strawberry.type(description="Something changed about an employee.")
class EmployeeChange:
    kind: EmployeeChangeKind
    employee_id: strawberry.ID
    occurred_at: datetime
    version: int
    status: EmploymentStatus
    unit_id: strawberry.ID
    previous_unit_id: strawberry.ID | None
    changed: list[str] = strawberry.field(description="profile fields changed (`updated`)")

    @strawberry.field(description="The employee as they are now (if you may see them).")
    async def employee(self, info: Info) -> Employee | None:
        return await load_employee(info, self.employee_id)

    @classmethod
    def of(cls, event: Event) -> EmployeeChange:
        data = event.data
        return cls(
            kind=EmployeeChangeKind(event.type.rsplit(".", 1)[1]),
            employee_id=strawberry.ID(event.subject),
            occurred_at=event.time,
            version=event.sequence,
            status=EmploymentStatus(data["status"]),
            unit_id=strawberry.ID(data["unit_id"]),
            previous_unit_id=data.get("previous_unit_id"),
            changed=list(data.get("changed") or []),
        )


async def _visible(info: Info, event: Event) -> bool:
    data = event.data
    paths: list[list[str]] = [data.get("unit_path") or [data["unit_id"]]]
    previous = data.get("previous_unit_id")
    if previous:  # the unit they left: its admins see them go
        try:
            tree = await info.context.identity.tree()
            paths.append(list(tree.path(previous)))
        except (BackendUnavailable, BackendProblem):
            paths.append([previous])
    return may_see_employee_change(info.context.viewer, employee_id=event.subject, unit_paths=paths)


@strawberry.type
class IdentitySubscription:
    @strawberry.subscription(
        description="Changes to employees you may see, from now on; narrowed to one "
        "employee or to a unit (with the units below it) if asked."
    )
    async def employee_changed(
        self,
        info: Info,
        employee_id: strawberry.ID | None = None,
        unit_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[EmployeeChange, None]:
        async for event in live_events(info.context, EMPLOYEE_EVENT_TYPES):
            if employee_id is not None and event.subject != employee_id:
                continue
            if unit_id is not None and unit_id not in (event.data.get("unit_path") or []):
                continue
            if await _visible(info, event):
                yield EmployeeChange.of(event)


__all__ = ["IdentitySubscription", "load_employee"]
