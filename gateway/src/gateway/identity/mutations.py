"""Identity's mutations: the joiner/mover/leaver lifecycle and the org tree.

Each forwards the caller's token to identity (which decides who may) and answers a
typed result: the changed object, or why not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry

from chorus_kit.events.identity import Role, SocialNetwork, UnitKind
from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.identity.types import (
    Employee,
    EmployeeResult,
    OrgUnit,
    OrgUnitResult,
)
from gateway.permissions import UnitNode
from gateway.problems import from_backend

Json = dict[str, Any]


@strawberry.input
class RoleAssignmentInput:
    role: Role
    unit_id: strawberry.ID


@strawberry.input
class SocialHandleInput:
    network: SocialNetwork
    handle: str


def _roles(roles: list[RoleAssignmentInput]) -> list[Json]:
    return [{"role": Role(r.role).value, "unit": str(r.unit_id)} for r in roles]


def _handles(handles: list[SocialHandleInput]) -> dict[str, str]:
    return {str(h.network.value): h.handle for h in handles}


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@strawberry.input
class HireEmployeeInput:
    email: str
    given_name: str
    family_name: str
    unit_id: strawberry.ID
    manager_id: strawberry.ID | None = None
    start_date: datetime | None = None
    roles: list[RoleAssignmentInput] = strawberry.field(default_factory=list)
    title: str | None = None
    location: str | None = None
    social_handles: list[SocialHandleInput] = strawberry.field(default_factory=list)
    employee_number: str | None = None
    external_id: str | None = None

    def body(self) -> Json:
        body: Json = {
            "email": self.email,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "unit_id": str(self.unit_id),
            "manager_id": self.manager_id,
            "start_date": _when(self.start_date),
            "roles": _roles(self.roles),
            "title": self.title,
            "location": self.location,
            "social_handles": _handles(self.social_handles),
            "employee_number": self.employee_number,
            "external_id": self.external_id,
        }
        return {k: v for k, v in body.items() if v is not None}


@strawberry.input(description="Only the fields given change; an explicit null clears one.")
class UpdateProfileInput:
    email: str | None = strawberry.UNSET
    given_name: str | None = strawberry.UNSET
    family_name: str | None = strawberry.UNSET
    title: str | None = strawberry.UNSET
    location: str | None = strawberry.UNSET
    social_handles: list[SocialHandleInput] | None = strawberry.UNSET
    employee_number: str | None = strawberry.UNSET
    external_id: str | None = strawberry.UNSET

    def body(self) -> Json:
        body: Json = {}
        for name in (
            "email",
            "given_name",
            "family_name",
            "title",
            "location",
            "employee_number",
            "external_id",
        ):
            value = getattr(self, name)
            if value is not strawberry.UNSET:
                body[name] = value
        if self.social_handles is not strawberry.UNSET:
            body["social_handles"] = (
                None if self.social_handles is None else _handles(self.social_handles)
            )
        return body


@strawberry.input
class RehireEmployeeInput:
    unit_id: strawberry.ID
    manager_id: strawberry.ID | None = None
    start_date: datetime | None = None
    roles: list[RoleAssignmentInput] = strawberry.field(default_factory=list)


@strawberry.input
class CreateOrgUnitInput:
    name: str
    kind: UnitKind
    parent_id: strawberry.ID
    id: strawberry.ID | None = strawberry.field(
        default=None, description="a readable id (`dept-eng`); generated if absent"
    )


async def _employee_write(info: Info, call: Callable[[str], Awaitable[Json]]) -> EmployeeResult:
    try:
        raw = await call(info.context.bearer)
    except (BackendUnavailable, BackendProblem) as exc:
        return from_backend(exc)
    info.context.identity.remember(raw)
    return Employee.of(raw)


async def _unit_write(info: Info, call: Callable[[str], Awaitable[Json]]) -> OrgUnitResult:
    try:
        raw = await call(info.context.bearer)
    except (BackendUnavailable, BackendProblem) as exc:
        return from_backend(exc)
    info.context.identity.forget_tree()
    return OrgUnit.of(UnitNode.of(raw))


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(description="Hire someone into an org unit.")
    async def hire_employee(self, info: Info, input: HireEmployeeInput) -> EmployeeResult:
        identity = info.context.services.identity
        return await _employee_write(info, lambda token: identity.hire(token, input.body()))

    @strawberry.mutation(description="Change profile fields (names, email, title, ...).")
    async def update_employee_profile(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateProfileInput,
        expected_version: int | None = None,
    ) -> EmployeeResult:
        identity = info.context.services.identity
        return await _employee_write(
            info,
            lambda token: identity.update_profile(
                token, str(id), input.body(), version=expected_version
            ),
        )

    @strawberry.mutation(description="Move someone to another unit (and maybe manager).")
    async def move_employee(
        self,
        info: Info,
        id: strawberry.ID,
        unit_id: strawberry.ID,
        manager_id: strawberry.ID | None = None,
    ) -> EmployeeResult:
        identity = info.context.services.identity
        body = {"unit_id": str(unit_id), "manager_id": manager_id}
        return await _employee_write(info, lambda token: identity.move(token, str(id), body))

    @strawberry.mutation(description="Replace the roles someone holds (and where).")
    async def change_employee_roles(
        self, info: Info, id: strawberry.ID, roles: list[RoleAssignmentInput]
    ) -> EmployeeResult:
        identity = info.context.services.identity
        body = {"roles": _roles(roles)}
        return await _employee_write(
            info, lambda token: identity.change_roles(token, str(id), body)
        )

    @strawberry.mutation(description="Pause someone's access (their sessions end).")
    async def suspend_employee(self, info: Info, id: strawberry.ID, reason: str) -> EmployeeResult:
        identity = info.context.services.identity
        return await _employee_write(
            info, lambda token: identity.suspend(token, str(id), {"reason": reason})
        )

    @strawberry.mutation(description="Make a suspended employee active again.")
    async def reinstate_employee(self, info: Info, id: strawberry.ID) -> EmployeeResult:
        identity = info.context.services.identity
        return await _employee_write(info, lambda token: identity.reinstate(token, str(id)))

    @strawberry.mutation(
        description="Offboard someone now, or at `at` (identity's scheduler runs it then)."
    )
    async def offboard_employee(
        self,
        info: Info,
        id: strawberry.ID,
        reason: str,
        at: datetime | None = None,
        expected_version: int | None = None,
    ) -> EmployeeResult:
        identity = info.context.services.identity
        body: Json = {"reason": reason}
        if at is not None:
            body["at"] = at.isoformat()
        return await _employee_write(
            info,
            lambda token: identity.offboard(token, str(id), body, version=expected_version),
        )

    @strawberry.mutation(description="Call off an offboarding scheduled for later.")
    async def cancel_scheduled_offboarding(self, info: Info, id: strawberry.ID) -> EmployeeResult:
        identity = info.context.services.identity
        return await _employee_write(
            info, lambda token: identity.cancel_scheduled_offboarding(token, str(id))
        )

    @strawberry.mutation(description="Bring a former employee back.")
    async def rehire_employee(
        self, info: Info, id: strawberry.ID, input: RehireEmployeeInput
    ) -> EmployeeResult:
        identity = info.context.services.identity
        body: Json = {
            "unit_id": str(input.unit_id),
            "manager_id": input.manager_id,
            "start_date": _when(input.start_date),
            "roles": _roles(input.roles),
        }
        body = {k: v for k, v in body.items() if v is not None}
        return await _employee_write(info, lambda token: identity.rehire(token, str(id), body))

    @strawberry.mutation(description="Create a subsidiary or department under a unit.")
    async def create_org_unit(self, info: Info, input: CreateOrgUnitInput) -> OrgUnitResult:
        identity = info.context.services.identity
        body: Json = {
            "name": input.name,
            "kind": input.kind.value,
            "parent_id": str(input.parent_id),
        }
        if input.id is not None:
            body["id"] = str(input.id)
        return await _unit_write(info, lambda token: identity.create_unit(token, body))

    @strawberry.mutation
    async def rename_org_unit(self, info: Info, id: strawberry.ID, name: str) -> OrgUnitResult:
        identity = info.context.services.identity
        return await _unit_write(
            info, lambda token: identity.rename_unit(token, str(id), {"name": name})
        )

    @strawberry.mutation(description="Move a unit (with its subtree) under another parent.")
    async def move_org_unit(
        self, info: Info, id: strawberry.ID, parent_id: strawberry.ID
    ) -> OrgUnitResult:
        identity = info.context.services.identity
        return await _unit_write(
            info, lambda token: identity.move_unit(token, str(id), {"parent_id": str(parent_id)})
        )

    @strawberry.mutation(description="Close a unit nobody works in and no open unit is under.")
    async def close_org_unit(self, info: Info, id: strawberry.ID) -> OrgUnitResult:
        identity = info.context.services.identity
        return await _unit_write(info, lambda token: identity.close_unit(token, str(id)))
