"""SCIM's use cases: provisioning clients, and SCIM Users and Groups carried out through the
identity use cases, so authorisation, lifecycle rules, events and audit entries are exactly
the admin API's (the client acts as an admin of its home unit).

A SCIM write can take several identity writes (a profile change, a new manager, an
offboarding), each one document write with its events, applied in an order that keeps
every step legal: back to staff first (rehire, reinstate), then profile and manager, then
leaving. The request's If-Match is checked first and each step carries the version the
previous one produced, so a concurrent change stops the sequence with 412.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from scim2_models import Group, InvalidValueException, MutabilityException

from chorus_kit.audit import audit_entry
from chorus_kit.auth import Principal
from chorus_kit.errors import (
    ChorusError,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthorized,
)
from chorus_kit.events import Event
from chorus_kit.events.identity import EmploymentStatus, Role, UnitKind
from identity.domain import scim_clients
from identity.domain.audit import audited
from identity.domain.authorization import readable_units, require_admin_over
from identity.domain.commands import (
    CreateOrgUnit,
    HireEmployee,
    MoveEmployee,
    OffboardEmployee,
    RehireEmployee,
    RenameOrgUnit,
    SuspendEmployee,
    UpdateProfile,
)
from identity.domain.model import Employee
from identity.domain.org_units import OrgTree, OrgUnit
from identity.domain.scim_clients import CreateProvisioningClient, ProvisioningClient
from identity.domain.scim_filter import (
    GROUP_ATTRIBUTES,
    USER_ATTRIBUTES,
    AttributeTable,
    parse_filter,
    to_mongo,
)
from identity.domain.scim_patch import apply_patch
from identity.domain.scim_resources import (
    Member,
    ScimUser,
    UserFields,
    employee_fields,
    group_resource,
    group_version,
    profile_changes,
    requested_fields,
    requested_group_name,
    requested_member_ids,
    unit_values,
    user_resource,
)
from identity.handlers import IdentityHandlers

OFFBOARDED = EmploymentStatus.OFFBOARDED
Sort = list[tuple[str, int]]


class ProvisioningClientRepository(Protocol):
    async def add(self, client: ProvisioningClient) -> None: ...
    async def find(self, client_id: str) -> ProvisioningClient | None: ...
    async def get(self, client_id: str) -> ProvisioningClient: ...
    async def list(self, *, units: set[str] | None) -> list[ProvisioningClient]: ...
    async def save(self, client: ProvisioningClient, *, expected_sequence: int) -> None: ...


class Directory(Protocol):
    async def users(
        self, query: dict[str, Any], *, sort: Sort, skip: int, limit: int
    ) -> tuple[int, list[Employee]]: ...
    async def groups(
        self, query: dict[str, Any], *, sort: Sort, skip: int, limit: int
    ) -> tuple[int, list[str]]: ...
    async def members(self, unit_ids: Sequence[str]) -> dict[str, list[Member]]: ...
    async def is_deleted(self, employee_id: str) -> bool: ...
    async def mark_deleted(self, employee_id: str) -> None: ...


@dataclass(frozen=True)
class ScimCaller:
    """A provisioning client making a SCIM request."""

    client: ProvisioningClient
    principal: Principal

    @property
    def home(self) -> str:
        """The client's unit: where the people it creates start, and "no group"."""
        return self.client.unit_id

    @property
    def leaving_reason(self) -> str:
        return f"deprovisioned by SCIM client {self.client.name}"


@dataclass(frozen=True)
class ListQuery:
    """RFC 7644 §3.4.2 list parameters, already range-checked by the caller."""

    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int = 100


@dataclass(frozen=True)
class Page:
    total: int
    start_index: int
    items: list[Any]


@dataclass(frozen=True)
class GroupView:
    unit: OrgUnit
    members: list[Member]

    @property
    def version(self) -> str:
        return group_version(self.unit, (m.id for m in self.members))


def _require_version(current: str, if_match: frozenset[str] | None) -> None:
    """If-Match: absent or `*` matches anything, else one of its tags must be `current`."""
    if if_match is not None and current not in if_match:
        raise PreconditionFailed(
            "the resource changed since that version was read", code="version_mismatch"
        )


def _sort(table: AttributeTable, query: ListQuery) -> Sort:
    order = -1 if query.descending else 1
    fields = [(table.sort_field(query.sort_by), order)] if query.sort_by else []
    return [*fields, ("_id", 1)]


@dataclass
class ScimHandlers:
    identity: IdentityHandlers
    clients: ProvisioningClientRepository
    directory: Directory
    # Hands a provisioning client's committed events to the outbox relay (id, events).
    client_events_written: Callable[[str, Sequence[Event]], None]

    async def tree(self) -> OrgTree:
        return await self.identity.units.tree()

    # --- provisioning clients (admins, with their own tokens) --------------------------------
    async def create_client(
        self, command: CreateProvisioningClient, *, by: Principal
    ) -> tuple[ProvisioningClient, str]:
        """A new client and its token, which is shown this once."""
        tree = await self.tree()
        if not tree.exists(command.unit_id):
            raise ChorusError(f"no org unit {command.unit_id}", code="unit_not_found")
        require_admin_over(by, command.unit_id, tree)
        client, token = scim_clients.new_client(command, by=by.sub)
        client = audited(client, self._entry(client, by=by, action="provisioning_client.created"))
        await self.clients.add(client)
        self.client_events_written(client.id, client.pending_events)
        return client, token

    async def list_clients(self, *, by: Principal) -> list[ProvisioningClient]:
        if not by.holds_anywhere(Role.ADMIN):
            raise Forbidden("provisioning clients are for admins", code="not_admin")
        units = readable_units(by, await self.tree(), roles=(Role.ADMIN,))
        return await self.clients.list(units=units)

    async def revoke_client(self, client_id: str, *, by: Principal) -> ProvisioningClient:
        client = await self.clients.get(client_id)
        require_admin_over(by, client.unit_id, await self.tree())
        revoked = scim_clients.revoke(client, by=by.sub)
        revoked = audited(
            revoked, self._entry(revoked, by=by, action="provisioning_client.revoked")
        )
        await self.clients.save(revoked, expected_sequence=client.sequence)
        self.client_events_written(revoked.id, revoked.pending_events)
        return revoked

    @staticmethod
    def _entry(client: ProvisioningClient, *, by: Principal, action: str) -> Any:
        return audit_entry(
            actor=by.sub,
            action=action,
            target_type="provisioning_client",
            target_id=client.id,
            unit_id=client.unit_id,
            details={"name": client.name},
        )

    async def authenticate(self, token: str) -> ScimCaller:
        """The client a bearer token belongs to; anything else (a JWT too) is refused."""
        client_id = scim_clients.client_id_of(token)
        client = await self.clients.find(client_id) if client_id else None
        if client is None or not scim_clients.token_matches(client, token) or not client.is_active:
            raise Unauthorized("unknown or revoked provisioning token", code="invalid_token")
        return ScimCaller(client=client, principal=client.principal())

    # --- Users -----------------------------------------------------------------------------------
    async def get_user(self, user_id: str, *, caller: ScimCaller) -> Employee:
        try:
            employee = await self.identity.get_employee(user_id, by=caller.principal)
        except (NotFound, Forbidden):  # out of the client's reach: not there, for it
            raise NotFound("no such user", code="user_not_found") from None
        if employee.status is OFFBOARDED and await self.directory.is_deleted(employee.id):
            raise NotFound("no such user", code="user_not_found")
        return employee

    async def list_users(self, query: ListQuery, *, caller: ScimCaller) -> Page:
        tree = await self.tree()
        clauses: list[dict[str, Any]] = []
        units = readable_units(caller.principal, tree, roles=(Role.ADMIN,))
        if units is not None:
            clauses.append({"unit_id": {"$in": sorted(units)}})
        if query.filter:
            expression = parse_filter(query.filter)
            clauses.append(to_mongo(expression, USER_ATTRIBUTES, unit_values=unit_values(tree)))
        total, employees = await self.directory.users(
            {"$and": clauses} if clauses else {},
            sort=_sort(USER_ATTRIBUTES, query),
            skip=query.start_index - 1,
            limit=query.count,
        )
        return Page(total=total, start_index=query.start_index, items=employees)

    async def create_user(self, user: ScimUser, *, caller: ScimCaller) -> Employee:
        wanted = requested_fields(user, current=None)
        if wanted.manager_id:
            await self._require_manager(wanted.manager_id, caller)
        command = HireEmployee(
            email=wanted.email,
            given_name=wanted.given_name,
            family_name=wanted.family_name,
            unit_id=caller.home,
            manager_id=wanted.manager_id,
            title=wanted.title,
            location=wanted.location,
            employee_number=wanted.employee_number,
            external_id=wanted.external_id,
        )
        employee = await self.identity.hire_employee(command, by=caller.principal)
        if wanted.active is False:  # provisioned ahead of time: on the books, no access yet
            employee = await self.identity.suspend_employee(
                employee.id,
                SuspendEmployee(reason=f"created inactive by SCIM client {caller.client.name}"),
                by=caller.principal,
                if_sequence=employee.sequence,
            )
        return employee

    async def replace_user(
        self,
        user_id: str,
        user: ScimUser,
        *,
        caller: ScimCaller,
        if_match: frozenset[str] | None = None,
    ) -> Employee:
        employee = await self.get_user(user_id, caller=caller)
        _require_version(str(employee.sequence), if_match)
        current = employee_fields(employee)
        return await self._apply(employee, current, requested_fields(user, current=current), caller)

    async def patch_user(
        self,
        user_id: str,
        body: dict[str, Any],
        *,
        caller: ScimCaller,
        if_match: frozenset[str] | None = None,
    ) -> Employee:
        employee = await self.get_user(user_id, caller=caller)
        _require_version(str(employee.sequence), if_match)
        resource = user_resource(employee, await self.tree(), home=caller.home, base_url="")
        patched = apply_patch(resource, body)
        current = employee_fields(employee)
        return await self._apply(
            employee, current, requested_fields(patched, current=current), caller
        )

    async def delete_user(
        self, user_id: str, *, caller: ScimCaller, if_match: frozenset[str] | None = None
    ) -> None:
        """The same offboarding as the admin action; the person is gone for SCIM after."""
        employee = await self.get_user(user_id, caller=caller)
        _require_version(str(employee.sequence), if_match)
        if employee.status is not OFFBOARDED:
            await self.identity.offboard_employee(
                employee.id,
                OffboardEmployee(reason=caller.leaving_reason),
                by=caller.principal,
                if_sequence=employee.sequence,
            )
        await self.directory.mark_deleted(employee.id)

    async def _apply(
        self, employee: Employee, current: UserFields, wanted: UserFields, caller: ScimCaller
    ) -> Employee:
        by = caller.principal
        changes = profile_changes(current, wanted)
        new_manager = wanted.manager_id != current.manager_id
        if new_manager and wanted.manager_id:
            await self._require_manager(wanted.manager_id, caller)
        if wanted.active is True and employee.status is OFFBOARDED:
            employee = await self._rehire(employee, wanted, caller)
            new_manager = False  # the rehire placed them under the wanted manager
        elif wanted.active is True and employee.status is EmploymentStatus.SUSPENDED:
            employee = await self.identity.reinstate_employee(
                employee.id, by=by, if_sequence=employee.sequence
            )
        if (changes or new_manager) and employee.status is OFFBOARDED:
            raise MutabilityException(
                detail="a former employee's attributes cannot change; set active to true "
                "to rehire them"
            )
        if changes:
            employee = await self.identity.update_profile(
                employee.id, UpdateProfile(**changes), by=by, if_sequence=employee.sequence
            )
        if new_manager:
            employee = await self.identity.move_employee(
                employee.id,
                MoveEmployee(unit_id=employee.unit_id, manager_id=wanted.manager_id),
                by=by,
                if_sequence=employee.sequence,
            )
        if wanted.active is False and employee.status is EmploymentStatus.ACTIVE:
            employee = await self.identity.offboard_employee(
                employee.id,
                OffboardEmployee(reason=caller.leaving_reason),
                by=by,
                if_sequence=employee.sequence,
            )
        return employee

    async def _rehire(self, employee: Employee, wanted: UserFields, caller: ScimCaller) -> Employee:
        """Back under the same id, in their former unit if the client still governs it."""
        tree = await self.tree()
        unit_id = employee.unit_id
        if not (
            tree.exists(unit_id) and tree.get(unit_id).is_open and caller.home in tree.path(unit_id)
        ):
            unit_id = caller.home
        manager_id = wanted.manager_id
        if manager_id and manager_id == employee.manager_id:
            manager_id = await self._still_employed(manager_id)
        return await self.identity.rehire_employee(
            employee.id,
            RehireEmployee(unit_id=unit_id, manager_id=manager_id),
            by=caller.principal,
            if_sequence=employee.sequence,
        )

    async def _require_manager(self, manager_id: str, caller: ScimCaller) -> None:
        try:
            manager = await self.get_user(manager_id, caller=caller)
        except NotFound:
            raise InvalidValueException(
                detail="manager.value is not a user of this client"
            ) from None
        if manager.status is OFFBOARDED:
            raise InvalidValueException(detail="manager.value is a former employee")

    async def _still_employed(self, employee_id: str) -> str | None:
        try:
            someone = await self.identity.employees.get(employee_id)
        except NotFound:
            return None
        return None if someone.status is OFFBOARDED else someone.id

    # --- Groups ----------------------------------------------------------------------------------
    async def _groups_in_scope(self, caller: ScimCaller) -> tuple[OrgTree, list[OrgUnit]]:
        tree = await self.tree()
        units = [tree.get(u) for u in tree.subtree(caller.home) if u != caller.home]
        return tree, [u for u in units if u.is_open]

    async def get_group(self, group_id: str, *, caller: ScimCaller) -> GroupView:
        _, groups = await self._groups_in_scope(caller)
        unit = next((g for g in groups if g.id == group_id), None)
        if unit is None:
            raise NotFound("no such group", code="group_not_found")
        members = await self.directory.members([unit.id])
        return GroupView(unit=unit, members=members[unit.id])

    async def list_groups(self, query: ListQuery, *, caller: ScimCaller) -> Page:
        tree, groups = await self._groups_in_scope(caller)
        clauses: list[dict[str, Any]] = [{"_id": {"$in": sorted(g.id for g in groups)}}]
        if query.filter:
            clauses.append(to_mongo(parse_filter(query.filter), GROUP_ATTRIBUTES))
        total, ids = await self.directory.groups(
            {"$and": clauses},
            sort=_sort(GROUP_ATTRIBUTES, query),
            skip=query.start_index - 1,
            limit=query.count,
        )
        members = await self.directory.members(ids)
        views = [GroupView(unit=tree.get(i), members=members[i]) for i in ids if tree.exists(i)]
        return Page(total=total, start_index=query.start_index, items=views)

    async def create_group(self, group: Group, *, caller: ScimCaller) -> GroupView:
        """A new department under the client's home unit, with the members asked for."""
        name = requested_group_name(group)
        _, groups = await self._groups_in_scope(caller)
        _require_unique_name(name, groups)
        wanted = requested_member_ids(group)
        joining = await self._joining(wanted, caller)  # all checked before anything changes
        unit = await self.identity.create_unit(
            CreateOrgUnit(name=name, kind=UnitKind.DEPARTMENT, parent_id=caller.home),
            by=caller.principal,
        )
        for employee in joining:
            await self._move(employee, unit.id, caller)
        return await self.get_group(unit.id, caller=caller)

    async def replace_group(
        self,
        group_id: str,
        group: Group,
        *,
        caller: ScimCaller,
        if_match: frozenset[str] | None = None,
    ) -> GroupView:
        view = await self.get_group(group_id, caller=caller)
        _require_version(view.version, if_match)
        return await self._apply_group(view, group, caller)

    async def patch_group(
        self,
        group_id: str,
        body: dict[str, Any],
        *,
        caller: ScimCaller,
        if_match: frozenset[str] | None = None,
    ) -> GroupView:
        view = await self.get_group(group_id, caller=caller)
        _require_version(view.version, if_match)
        patched = apply_patch(group_resource(view.unit, view.members, base_url=""), body)
        return await self._apply_group(view, patched, caller)

    async def delete_group(
        self, group_id: str, *, caller: ScimCaller, if_match: frozenset[str] | None = None
    ) -> None:
        """Its members go back to the home unit, then the unit closes."""
        view = await self.get_group(group_id, caller=caller)
        _require_version(view.version, if_match)
        if (await self.tree()).open_children(view.unit.id):
            raise Conflict("the group's unit has units below it", code="unit_not_empty")
        for member in view.members:
            await self._move(await self.identity.employees.get(member.id), caller.home, caller)
        await self.identity.close_unit(view.unit.id, by=caller.principal)

    async def _apply_group(self, view: GroupView, wanted: Group, caller: ScimCaller) -> GroupView:
        name = requested_group_name(wanted)
        wanted_ids = requested_member_ids(wanted)
        current_ids = [m.id for m in view.members]
        joining = await self._joining([i for i in wanted_ids if i not in current_ids], caller)
        if name != view.unit.name:
            _, groups = await self._groups_in_scope(caller)
            _require_unique_name(name, [g for g in groups if g.id != view.unit.id])
            await self.identity.rename_unit(
                view.unit.id, RenameOrgUnit(name=name), by=caller.principal
            )
        for employee in joining:
            await self._move(employee, view.unit.id, caller)
        for leaving in (i for i in current_ids if i not in wanted_ids):
            await self._move(await self.identity.employees.get(leaving), caller.home, caller)
        return await self.get_group(view.unit.id, caller=caller)

    async def _joining(self, ids: Sequence[str], caller: ScimCaller) -> list[Employee]:
        """The people to add to a group, each of them free to join one."""
        if not ids:
            return []
        found = {e.id: e for e in await self.identity.get_employees(ids, by=caller.principal)}
        people = []
        for employee_id in ids:
            employee = found.get(employee_id)
            if employee is None:
                raise InvalidValueException(detail="a member is not a user of this client")
            if employee.status is OFFBOARDED:
                raise InvalidValueException(detail="a former employee cannot join a group")
            if employee.unit_id != caller.home:
                raise InvalidValueException(
                    detail="a user is in at most one group: remove them from theirs first"
                )
            people.append(employee)
        return people

    async def _move(self, employee: Employee, unit_id: str, caller: ScimCaller) -> None:
        if employee.unit_id == unit_id:
            return
        manager_id = (
            await self._still_employed(employee.manager_id) if employee.manager_id else None
        )
        await self.identity.move_employee(
            employee.id,
            MoveEmployee(unit_id=unit_id, manager_id=manager_id),
            by=caller.principal,
            if_sequence=employee.sequence,
        )


def _require_unique_name(name: str, groups: Sequence[OrgUnit]) -> None:
    if any(g.name.casefold() == name.casefold() for g in groups):
        raise Conflict("a group with this displayName exists", code="group_exists")
