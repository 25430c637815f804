"""Identity's use cases: each takes a command and the caller, checks, changes, stores.

Every write checks authorisation against the org tree, stores the new state with its
events and an audit entry in one document write, and hands the events to the relay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from chorus_kit.audit import audit_entry
from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict, NotFound, PreconditionFailed
from chorus_kit.events import Event
from chorus_kit.events.identity import EmploymentStatus, UnitKind
from chorus_kit.paging import decode_cursor, encode_cursor
from identity.domain import model, org_units
from identity.domain.audit import audited
from identity.domain.authorization import (
    may_read_employee,
    readable_units,
    require_admin_over,
    require_may_read,
)
from identity.domain.commands import (
    ChangeRoles,
    CreateOrgUnit,
    EmployeeFilter,
    HireEmployee,
    MoveEmployee,
    MoveOrgUnit,
    OffboardEmployee,
    Page,
    RehireEmployee,
    RenameOrgUnit,
    SuspendEmployee,
    UpdateProfile,
)
from identity.domain.model import Employee
from identity.domain.org_units import OrgTree, OrgUnit

log = logging.getLogger(__name__)
SYSTEM = "system"


class EmployeeRepository(Protocol):
    """What the use cases need of storage (Mongo in production, in-memory in unit tests)."""

    async def add(self, employee: Employee) -> None: ...
    async def get(self, employee_id: str) -> Employee: ...
    async def save(self, employee: Employee, *, expected_sequence: int) -> None: ...
    async def get_many(self, employee_ids: Sequence[str]) -> list[Employee]: ...
    async def count_in_unit(self, unit_id: str) -> int: ...
    async def due_offboardings(self, now: datetime, *, limit: int = 100) -> list[Employee]: ...
    async def reporting_to(self, manager_ids: Sequence[str]) -> list[Employee]: ...
    async def search(
        self,
        criteria: EmployeeFilter,
        *,
        units: set[str] | None,
        also_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[Employee]: ...


class OrgUnitRepository(Protocol):
    async def tree(self) -> OrgTree: ...
    async def add(self, unit: OrgUnit) -> None: ...
    async def save(self, unit: OrgUnit, *, expected_sequence: int) -> None: ...


# Hands a committed write's events to the outbox relay (repository, aggregate id, events).
EventsWritten = Callable[[object, str, Sequence[Event]], None]


def _check_version(current: int, if_sequence: int | None) -> None:
    if if_sequence is not None and if_sequence != current:
        raise PreconditionFailed(
            f"the record is at version {current}, not {if_sequence}", code="version_mismatch"
        )


@dataclass
class IdentityHandlers:
    employees: EmployeeRepository
    units: OrgUnitRepository
    events_written: EventsWritten

    # --- employees ------------------------------------------------------------------------
    async def _manager_chain(self, manager_id: str | None) -> tuple[str, ...]:
        if not manager_id:
            return ()
        try:
            manager = await self.employees.get(manager_id)
        except NotFound:
            raise ChorusError(f"no employee {manager_id}", code="manager_not_found") from None
        if manager.status is EmploymentStatus.OFFBOARDED:
            raise Conflict("a former employee cannot be a manager", code="manager_not_employed")
        return (manager.id, *manager.manager_chain)

    async def _open_unit_path(self, tree: OrgTree, unit_id: str) -> tuple[str, ...]:
        if not tree.exists(unit_id):
            raise ChorusError(f"no org unit {unit_id}", code="unit_not_found")
        if not tree.get(unit_id).is_open:
            raise Conflict(f"org unit {unit_id} is closed", code="unit_closed")
        return tree.path(unit_id)

    async def _employee_for_write(self, employee_id: str, if_sequence: int | None) -> Employee:
        employee = await self.employees.get(employee_id)
        _check_version(employee.sequence, if_sequence)
        return employee

    async def _store(
        self, before: Employee, after: Employee, *, by: Principal, action: str, **details: str
    ) -> Employee:
        entry = audit_entry(
            actor=by.sub,
            action=action,
            target_type="employee",
            target_id=after.id,
            unit_id=after.unit_id,
            details=dict(details),
        )
        after = audited(after, entry)
        await self.employees.save(after, expected_sequence=before.sequence)
        self.events_written(self.employees, after.id, after.pending_events)
        return after

    async def hire_employee(self, command: HireEmployee, *, by: Principal) -> Employee:
        tree = await self.units.tree()
        path = await self._open_unit_path(tree, command.unit_id)  # the tree is no secret
        require_admin_over(by, command.unit_id, tree)
        for granted in command.roles:  # nobody hands out authority they do not hold
            require_admin_over(by, granted.unit, tree)
        chain = await self._manager_chain(command.manager_id)
        employee = model.hire(command, manager_chain=chain, unit_path=path)
        entry = audit_entry(
            actor=by.sub,
            action="employee.hired",
            target_type="employee",
            target_id=employee.id,
            unit_id=employee.unit_id,
        )
        employee = audited(employee, entry)
        await self.employees.add(employee)
        self.events_written(self.employees, employee.id, employee.pending_events)
        return employee

    async def update_profile(
        self,
        employee_id: str,
        command: UpdateProfile,
        *,
        by: Principal,
        if_sequence: int | None = None,
    ) -> Employee:
        employee = await self._employee_for_write(employee_id, if_sequence)
        require_admin_over(by, employee.unit_id, await self.units.tree())
        updated = model.update_profile(employee, command)
        changed = ",".join(sorted(command.model_fields_set))
        return await self._store(
            employee, updated, by=by, action="employee.updated", fields=changed
        )

    async def offboard_employee(
        self,
        employee_id: str,
        command: OffboardEmployee,
        *,
        by: Principal,
        if_sequence: int | None = None,
    ) -> Employee:
        """Offboard now, or schedule it when `command.at` lies in the future."""
        employee = await self._employee_for_write(employee_id, if_sequence)
        require_admin_over(by, employee.unit_id, await self.units.tree())
        if command.at is not None and command.at > datetime.now(UTC):
            scheduled = model.schedule_offboarding(employee, reason=command.reason, at=command.at)
            return await self._store(
                employee,
                scheduled,
                by=by,
                action="employee.offboarding_scheduled",
                at=command.at.isoformat(),
            )
        left = model.offboard(employee, reason=command.reason)
        return await self._store(employee, left, by=by, action="employee.offboarded")

    async def cancel_scheduled_offboarding(
        self, employee_id: str, *, by: Principal, if_sequence: int | None = None
    ) -> Employee:
        employee = await self._employee_for_write(employee_id, if_sequence)
        require_admin_over(by, employee.unit_id, await self.units.tree())
        kept = model.cancel_scheduled_offboarding(employee)
        return await self._store(employee, kept, by=by, action="employee.offboarding_cancelled")

    async def run_due_offboardings(self, now: datetime | None = None) -> int:
        """The scheduler's tick: offboard everyone whose date has come. Safe on every replica:
        a second replica's attempt loses the version check and changes nothing."""
        done = 0
        for employee in await self.employees.due_offboardings(now or datetime.now(UTC)):
            scheduled = employee.scheduled_offboarding
            if scheduled is None:
                continue
            system = Principal(sub=SYSTEM, roles=(), issued_at=datetime.now(UTC), token_id="-")
            try:
                left = model.offboard(employee, reason=scheduled.reason, at=scheduled.at)
                await self._store(
                    employee, left, by=system, action="employee.offboarded", scheduled="true"
                )
                done += 1
            except Conflict as exc:  # another replica was first, or they left meanwhile
                log.info("scheduled offboarding of %s skipped: %s", employee.id, exc.code)
        return done

    async def suspend_employee(
        self,
        employee_id: str,
        command: SuspendEmployee,
        *,
        by: Principal,
        if_sequence: int | None = None,
    ) -> Employee:
        employee = await self._employee_for_write(employee_id, if_sequence)
        require_admin_over(by, employee.unit_id, await self.units.tree())
        paused = model.suspend(employee, reason=command.reason)
        return await self._store(employee, paused, by=by, action="employee.suspended")

    async def reinstate_employee(
        self, employee_id: str, *, by: Principal, if_sequence: int | None = None
    ) -> Employee:
        employee = await self._employee_for_write(employee_id, if_sequence)
        require_admin_over(by, employee.unit_id, await self.units.tree())
        back = model.reinstate(employee)
        return await self._store(employee, back, by=by, action="employee.reinstated")

    async def move_employee(
        self,
        employee_id: str,
        command: MoveEmployee,
        *,
        by: Principal,
        if_sequence: int | None = None,
    ) -> Employee:
        employee = await self._employee_for_write(employee_id, if_sequence)
        tree = await self.units.tree()
        # Moving someone takes authority over where they are and where they go.
        path = await self._open_unit_path(tree, command.unit_id)
        require_admin_over(by, employee.unit_id, tree)
        require_admin_over(by, command.unit_id, tree)
        chain = await self._manager_chain(command.manager_id)
        moved = model.move(
            employee,
            unit_id=command.unit_id,
            unit_path=path,
            manager_id=command.manager_id,
            manager_chain=chain,
        )
        return await self._store(
            employee, moved, by=by, action="employee.moved", from_unit=employee.unit_id
        )

    async def change_roles(
        self,
        employee_id: str,
        command: ChangeRoles,
        *,
        by: Principal,
        if_sequence: int | None = None,
    ) -> Employee:
        employee = await self._employee_for_write(employee_id, if_sequence)
        tree = await self.units.tree()
        require_admin_over(by, employee.unit_id, tree)
        # Nobody hands out, or takes away, authority they do not hold themselves.
        for changed_role in set(command.roles) ^ set(employee.roles):
            require_admin_over(by, changed_role.unit, tree)
            if not tree.exists(changed_role.unit):
                raise ChorusError(f"no org unit {changed_role.unit}", code="unit_not_found")
        changed = model.change_roles(employee, roles=tuple(command.roles))
        roles = ",".join(sorted(f"{r.role.value}@{r.unit}" for r in changed.roles))
        return await self._store(
            employee, changed, by=by, action="employee.roles_changed", roles=roles
        )

    async def rehire_employee(
        self,
        employee_id: str,
        command: RehireEmployee,
        *,
        by: Principal,
        if_sequence: int | None = None,
    ) -> Employee:
        employee = await self._employee_for_write(employee_id, if_sequence)
        tree = await self.units.tree()
        path = await self._open_unit_path(tree, command.unit_id)
        require_admin_over(by, command.unit_id, tree)
        for granted in command.roles:
            require_admin_over(by, granted.unit, tree)
        chain = await self._manager_chain(command.manager_id)
        back = model.rehire(
            employee,
            unit_id=command.unit_id,
            unit_path=path,
            manager_id=command.manager_id,
            manager_chain=chain,
            roles=tuple(command.roles),
            start_date=command.start_date,
        )
        return await self._store(employee, back, by=by, action="employee.rehired")

    async def get_employee(self, employee_id: str, *, by: Principal) -> Employee:
        employee = await self.employees.get(employee_id)
        require_may_read(
            by, employee_id=employee.id, unit_id=employee.unit_id, tree=await self.units.tree()
        )
        return employee

    async def list_employees(
        self, criteria: EmployeeFilter, page: Page, *, by: Principal
    ) -> tuple[list[Employee], str | None]:
        """One page of what the caller may see, and the cursor of the next page (if any)."""
        tree = await self.units.tree()
        units = readable_units(by, tree)
        also_id: str | None = by.sub
        if criteria.unit_id:  # a unit's staff includes its departments' staff
            wanted = tree.subtree(criteria.unit_id)
            units = wanted if units is None else units & wanted
            also_id = None
        found = await self.employees.search(
            criteria,
            units=units,
            also_id=also_id,
            after=decode_cursor(page.after) if page.after else None,
            limit=page.limit + 1,  # one more tells whether another page exists
        )
        more = len(found) > page.limit
        found = found[: page.limit]
        return found, encode_cursor(found[-1].id) if more and found else None

    async def get_employees(self, employee_ids: Sequence[str], *, by: Principal) -> list[Employee]:
        """Those of `employee_ids` that exist and the caller may read (one query).

        Unreadable ones are reported like missing ones: existence is not disclosed.
        """
        tree = await self.units.tree()
        return [
            e
            for e in await self.employees.get_many(employee_ids)
            if may_read_employee(by, employee_id=e.id, unit_id=e.unit_id, tree=tree)
        ]

    async def direct_reports_of(
        self, manager_ids: Sequence[str], *, by: Principal, limit: int
    ) -> dict[str, list[Employee]]:
        """Each manager's direct reports the caller may read (at most `limit` each, by id),
        in one query: the gateway's batch for `Employee.directReports`."""
        tree = await self.units.tree()
        groups: dict[str, list[Employee]] = {m: [] for m in dict.fromkeys(manager_ids)}
        for e in await self.employees.reporting_to(list(groups)):
            reports = groups.get(e.manager_id or "")
            if (
                reports is not None
                and len(reports) < limit
                and may_read_employee(by, employee_id=e.id, unit_id=e.unit_id, tree=tree)
            ):
                reports.append(e)
        return groups

    # --- org units --------------------------------------------------------------------------
    async def _store_unit(
        self, before: OrgUnit, after: OrgUnit, *, by: Principal, action: str
    ) -> OrgUnit:
        entry = audit_entry(
            actor=by.sub,
            action=action,
            target_type="org_unit",
            target_id=after.id,
            unit_id=after.id,
        )
        after = audited(after, entry)
        await self.units.save(after, expected_sequence=before.sequence)
        self.events_written(self.units, after.id, after.pending_events)
        return after

    async def create_unit(self, command: CreateOrgUnit, *, by: Principal) -> OrgUnit:
        tree = await self.units.tree()
        if command.parent_id is None:
            raise ChorusError("only the service creates the company unit", code="parent_required")
        require_admin_over(by, command.parent_id, tree)
        unit = org_units.create_unit(
            tree,
            name=command.name,
            kind=command.kind,
            parent_id=command.parent_id,
            unit_id=command.id,
        )
        entry = audit_entry(
            actor=by.sub,
            action="org_unit.created",
            target_type="org_unit",
            target_id=unit.id,
            unit_id=unit.id,
        )
        unit = audited(unit, entry)
        await self.units.add(unit)
        self.events_written(self.units, unit.id, unit.pending_events)
        return unit

    async def ensure_root_unit(self, unit_id: str, *, name: str) -> None:
        """The company unit exists from the first start (created once, by the service)."""
        tree = await self.units.tree()
        if tree.exists(unit_id):
            return
        unit = org_units.create_unit(
            tree, name=name, kind=UnitKind.COMPANY, parent_id=None, unit_id=unit_id
        )
        try:
            await self.units.add(unit)
        except Conflict:
            return  # another replica created it first
        self.events_written(self.units, unit.id, unit.pending_events)

    async def rename_unit(self, unit_id: str, command: RenameOrgUnit, *, by: Principal) -> OrgUnit:
        tree = await self.units.tree()
        unit = tree.get(unit_id)
        require_admin_over(by, unit_id, tree)
        renamed = org_units.rename_unit(unit, tree, name=command.name)
        return await self._store_unit(unit, renamed, by=by, action="org_unit.renamed")

    async def move_unit(self, unit_id: str, command: MoveOrgUnit, *, by: Principal) -> OrgUnit:
        tree = await self.units.tree()
        unit = tree.get(unit_id)
        require_admin_over(by, unit_id, tree)
        require_admin_over(by, command.parent_id, tree)
        moved = org_units.move_unit(unit, tree, parent_id=command.parent_id)
        return await self._store_unit(unit, moved, by=by, action="org_unit.moved")

    async def close_unit(self, unit_id: str, *, by: Principal) -> OrgUnit:
        tree = await self.units.tree()
        unit = tree.get(unit_id)
        require_admin_over(by, unit_id, tree)
        staff = await self.employees.count_in_unit(unit_id)
        closed = org_units.close_unit(unit, tree, staff_count=staff)
        return await self._store_unit(unit, closed, by=by, action="org_unit.closed")

    async def get_unit(self, unit_id: str, *, by: Principal) -> tuple[OrgUnit, OrgTree]:
        """Any signed-in person may read the org tree (it is the company's directory)."""
        tree = await self.units.tree()
        return tree.get(unit_id), tree

    async def list_units(self, *, by: Principal) -> OrgTree:
        return await self.units.tree()
