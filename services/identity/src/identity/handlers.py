"""Identity's use cases: each takes a command and the caller, checks, changes, stores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chorus_kit.auth import Principal
from identity.adapters.mongo_store import EmployeeStore
from identity.domain import model
from identity.domain.authorization import require_admin_over, require_may_read
from identity.domain.commands import HireEmployee, OffboardEmployee
from identity.domain.model import Employee


@dataclass
class IdentityHandlers:
    employees: EmployeeStore
    root_unit: str
    # Wakes the outbox relay after a write so events leave at once.
    events_written: Callable[[], None]

    async def hire_employee(self, command: HireEmployee, *, by: Principal) -> Employee:
        require_admin_over(by, command.unit_id, root_unit=self.root_unit)
        chain: tuple[str, ...] = ()
        if command.manager_id:
            manager = await self.employees.get(command.manager_id)
            chain = (manager.id, *manager.manager_chain)
        employee = model.hire(command, manager_chain=chain)
        await self.employees.add(employee)
        self.events_written()
        return employee

    async def offboard_employee(
        self, employee_id: str, command: OffboardEmployee, *, by: Principal
    ) -> Employee:
        employee = await self.employees.get(employee_id)
        require_admin_over(by, employee.unit_id, root_unit=self.root_unit)
        left = model.offboard(employee, reason=command.reason)
        await self.employees.save(left, expected_sequence=employee.sequence)
        self.events_written()
        return left

    async def get_employee(self, employee_id: str, *, by: Principal) -> Employee:
        employee = await self.employees.get(employee_id)
        require_may_read(
            by, employee_id=employee.id, unit_id=employee.unit_id, root_unit=self.root_unit
        )
        return employee
