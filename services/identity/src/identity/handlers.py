"""Identity's use cases: each takes a command and the caller, checks, changes, stores."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from chorus_kit.auth import Principal
from chorus_kit.events import Event
from identity.domain import model
from identity.domain.authorization import require_admin_over, require_may_read
from identity.domain.commands import HireEmployee, OffboardEmployee
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

    async def hire_employee(self, command: HireEmployee, *, by: Principal) -> Employee:
        require_admin_over(by, command.unit_id, root_unit=self.root_unit)
        chain: tuple[str, ...] = ()
        if command.manager_id:
            manager = await self.employees.get(command.manager_id)
            chain = (manager.id, *manager.manager_chain)
        employee = model.hire(command, manager_chain=chain)
        await self.employees.add(employee)
        self.events_written(employee.id, employee.pending_events)
        return employee

    async def offboard_employee(
        self, employee_id: str, command: OffboardEmployee, *, by: Principal
    ) -> Employee:
        employee = await self.employees.get(employee_id)
        require_admin_over(by, employee.unit_id, root_unit=self.root_unit)
        left = model.offboard(employee, reason=command.reason)
        await self.employees.save(left, expected_sequence=employee.sequence)
        self.events_written(left.id, left.pending_events)
        return left

    async def get_employee(self, employee_id: str, *, by: Principal) -> Employee:
        employee = await self.employees.get(employee_id)
        require_may_read(
            by, employee_id=employee.id, unit_id=employee.unit_id, root_unit=self.root_unit
        )
        return employee
