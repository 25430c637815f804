"""Identity's use cases: each takes a command and the caller, checks, changes, stores."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Forbidden
from chorus_kit.events import Event
from identity.domain import model
from identity.domain.authorization import (
    readable_units,
    require_admin_over,
    require_may_read,
)
from identity.domain.commands import (
    ChangeRoles,
    EmployeeFilter,
    HireEmployee,
    MoveEmployee,
    OffboardEmployee,
    Page,
    RehireEmployee,
    SuspendEmployee,
)
from identity.domain.model import Employee


class EmployeeRepository(Protocol):
    """What the use cases need of storage (Mongo in production, in-memory in unit tests)."""

    async def add(self, employee: Employee) -> None: ...
    async def get(self, employee_id: str) -> Employee: ...
    async def save(self, employee: Employee, *, expected_sequence: int) -> None: ...
    async def get_many(self, employee_ids: Sequence[str]) -> list[Employee]: ...
    async def search(
        self,
        criteria: EmployeeFilter,
        *,
        units: set[str] | None,
        also_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[Employee]: ...


@dataclass
class IdentityHandlers:
    employees: EmployeeRepository
    root_unit: str
    # Hands a committed write's events to the outbox relay, so they leave at once.
    events_written: Callable[[str, Sequence[Event]], None]

    async def _manager_chain(self, manager_id: str | None) -> tuple[str, ...]:
        if not manager_id:
            return ()
        manager = await self.employees.get(manager_id)
        return (manager.id, *manager.manager_chain)

    async def _store(self, before: Employee, after: Employee) -> Employee:
        await self.employees.save(after, expected_sequence=before.sequence)
        self.events_written(after.id, after.pending_events)
        return after

    async def hire_employee(self, command: HireEmployee, *, by: Principal) -> Employee:
        require_admin_over(by, command.unit_id, root_unit=self.root_unit)
        chain = await self._manager_chain(command.manager_id)
        employee = model.hire(command, manager_chain=chain)
        await self.employees.add(employee)
        self.events_written(employee.id, employee.pending_events)
        return employee

    async def offboard_employee(
        self, employee_id: str, command: OffboardEmployee, *, by: Principal
    ) -> Employee:
        employee = await self.employees.get(employee_id)
        require_admin_over(by, employee.unit_id, root_unit=self.root_unit)
        return await self._store(employee, model.offboard(employee, reason=command.reason))

    async def suspend_employee(
        self, employee_id: str, command: SuspendEmployee, *, by: Principal
    ) -> Employee:
        employee = await self.employees.get(employee_id)
        require_admin_over(by, employee.unit_id, root_unit=self.root_unit)
        return await self._store(employee, model.suspend(employee, reason=command.reason))

    async def reinstate_employee(self, employee_id: str, *, by: Principal) -> Employee:
        employee = await self.employees.get(employee_id)
        require_admin_over(by, employee.unit_id, root_unit=self.root_unit)
        return await self._store(employee, model.reinstate(employee))

    async def move_employee(
        self, employee_id: str, command: MoveEmployee, *, by: Principal
    ) -> Employee:
        employee = await self.employees.get(employee_id)
        # Moving someone takes authority over where they are and where they go.
        require_admin_over(by, employee.unit_id, root_unit=self.root_unit)
        require_admin_over(by, command.unit_id, root_unit=self.root_unit)
        chain = await self._manager_chain(command.manager_id)
        moved = model.move(
            employee, unit_id=command.unit_id, manager_id=command.manager_id, manager_chain=chain
        )
        return await self._store(employee, moved)

    async def change_roles(
        self, employee_id: str, command: ChangeRoles, *, by: Principal
    ) -> Employee:
        employee = await self.employees.get(employee_id)
        require_admin_over(by, employee.unit_id, root_unit=self.root_unit)
        for granted in command.roles:  # nobody hands out authority they do not hold
            require_admin_over(by, granted.unit, root_unit=self.root_unit)
        changed = model.change_roles(employee, roles=tuple(command.roles))
        return await self._store(employee, changed)

    async def rehire_employee(
        self, employee_id: str, command: RehireEmployee, *, by: Principal
    ) -> Employee:
        employee = await self.employees.get(employee_id)
        require_admin_over(by, command.unit_id, root_unit=self.root_unit)
        chain = await self._manager_chain(command.manager_id)
        back = model.rehire(
            employee,
            unit_id=command.unit_id,
            manager_id=command.manager_id,
            manager_chain=chain,
            roles=tuple(command.roles),
            start_date=command.start_date,
        )
        return await self._store(employee, back)

    async def get_employee(self, employee_id: str, *, by: Principal) -> Employee:
        employee = await self.employees.get(employee_id)
        require_may_read(
            by, employee_id=employee.id, unit_id=employee.unit_id, root_unit=self.root_unit
        )
        return employee

    async def list_employees(
        self, criteria: EmployeeFilter, page: Page, *, by: Principal
    ) -> tuple[list[Employee], str | None]:
        """One page of what the caller may see, and the cursor of the next page (if any)."""
        units = readable_units(by, root_unit=self.root_unit)
        found = await self.employees.search(
            criteria,
            units=units,
            also_id=by.sub,
            after=decode_cursor(page.after) if page.after else None,
            limit=page.limit + 1,  # one more tells whether another page exists
        )
        more = len(found) > page.limit
        found = found[: page.limit]
        return found, encode_cursor(found[-1].id) if more and found else None

    async def get_employees(self, employee_ids: Sequence[str], *, by: Principal) -> list[Employee]:
        """Those of `employee_ids` that exist and the caller may read (one query)."""
        readable = []
        for employee in await self.employees.get_many(employee_ids):
            try:
                require_may_read(
                    by,
                    employee_id=employee.id,
                    unit_id=employee.unit_id,
                    root_unit=self.root_unit,
                )
            except Forbidden:
                continue  # reported like a missing one: existence is not disclosed
            readable.append(employee)
        return readable


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last_id = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ChorusError("the page cursor is not one this API gave", code="bad_cursor") from exc
    if not last_id:
        raise ChorusError("the page cursor is not one this API gave", code="bad_cursor")
    return last_id
