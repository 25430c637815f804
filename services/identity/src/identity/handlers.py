"""Identity's use cases: each takes a command and the caller, checks, changes, stores."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from chorus_kit.auth import Principal
from chorus_kit.events import Event
from identity.domain import model
from identity.domain.authorization import require_admin_over, require_may_read
from identity.domain.commands import (
    ChangeRoles,
    HireEmployee,
    MoveEmployee,
    OffboardEmployee,
    RehireEmployee,
    SuspendEmployee,
)
from identity.domain.model import Employee


class EmployeeRepository(Protocol):
    """What the use cases need of storage (Mongo in production, in-memory in unit tests)."""

    async def add(self, employee: Employee) -> None: ...
    async def get(self, employee_id: str) -> Employee: ...
    async def save(self, employee: Employee, *, expected_sequence: int) -> None: ...


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
