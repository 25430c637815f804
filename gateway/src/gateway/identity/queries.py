"""Identity's queries: me, the directory, the org tree, the audit log."""

from __future__ import annotations

from typing import Annotated

import strawberry

from chorus_kit.events.identity import EmploymentStatus
from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.identity.types import (
    AuditLogPage,
    AuditLogResult,
    Employee,
    EmployeeConnectionResult,
    EmployeeResult,
    OrgUnit,
    RoleGrant,
    employee_page,
    load_employee,
)
from gateway.permissions import may_read_audit_log
from gateway.problems import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
    from_backend,
    invalid,
)

AUDIT_PAGE_MAX = 200


@strawberry.type(description="Who is calling: the token's subject and roles.")
class Me:
    subject: strawberry.ID
    roles: list[RoleGrant] = strawberry.field(metadata={"list_size": 3})

    @strawberry.field(description="Your own staff record (none for a non-person caller).")
    async def employee(self, info: Info) -> Employee | None:
        return await load_employee(info, self.subject)

    @strawberry.field
    def may_read_audit_log(self, info: Info) -> bool:
        return may_read_audit_log(info.context.viewer)


@strawberry.type(description="The whole org tree: the root and every unit.")
class OrgTreeView:
    root: OrgUnit | None
    units: list[OrgUnit] = strawberry.field(metadata={"list_size": 50})


OrgTreeResult = Annotated[
    OrgTreeView | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("OrgTreeResult"),
]
OrgUnitLookup = Annotated[
    OrgUnit | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("OrgUnitLookup"),
]


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="Who you are, as your token says.")
    def me(self, info: Info) -> Me:
        viewer = info.context.viewer
        return Me(
            subject=strawberry.ID(viewer.sub),
            roles=[RoleGrant(role=r.role, unit_id=strawberry.ID(r.unit)) for r in viewer.roles],
        )

    @strawberry.field(description="One employee, if you may see them.", metadata={"cost": 1})
    async def employee(self, info: Info, id: strawberry.ID) -> EmployeeResult:
        try:
            raw = await info.context.identity.load(str(id))
        except (BackendUnavailable, BackendProblem) as exc:
            return from_backend(exc)
        if raw is None:
            return NotFound(message="no such employee (or not yours to see)", code="not_found")
        return Employee.of(raw)

    @strawberry.field(
        description="Employees you may see, by id; filters narrow it (`search` matches the "
        "start of an email or family name; `unitId` includes the units below it).",
        metadata={"cost": 2},
    )
    async def employees(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        unit_id: strawberry.ID | None = None,
        status: EmploymentStatus | None = None,
        search: str | None = None,
    ) -> EmployeeConnectionResult:
        return await employee_page(
            info,
            first=first,
            after=after,
            unit_id=unit_id,
            status=status,
            search=search,
            alone_on_its_level=True,
        )

    @strawberry.field(description="The org tree (any signed-in person may read it).")
    async def org_tree(self, info: Info) -> OrgTreeResult:
        info.context.viewer  # noqa: B018 - anonymous callers are refused first
        try:
            tree = await info.context.identity.tree()
        except (BackendUnavailable, BackendProblem) as exc:
            return from_backend(exc)
        units = sorted(tree.units(), key=lambda u: (len(tree.path(u.id)), u.name, u.id))
        root = next((u for u in units if u.parent_id is None), None)
        return OrgTreeView(
            root=OrgUnit.of(root) if root else None, units=[OrgUnit.of(u) for u in units]
        )

    @strawberry.field
    async def org_unit(self, info: Info, id: strawberry.ID) -> OrgUnitLookup:
        info.context.viewer  # noqa: B018
        try:
            tree = await info.context.identity.tree()
        except (BackendUnavailable, BackendProblem) as exc:
            return from_backend(exc)
        if not tree.exists(str(id)):
            return NotFound(message="no such org unit", code="unit_not_found")
        return OrgUnit.of(tree.get(str(id)))

    @strawberry.field(
        description="Privileged actions, newest first (auditors and admins, for the units "
        "they cover).",
        metadata={"cost": 2},
    )
    async def audit_log(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
    ) -> AuditLogResult:
        viewer = info.context.viewer
        if not may_read_audit_log(viewer):
            return Forbidden(message="the audit log is for auditors and admins", code="not_auditor")
        if not 1 <= first <= AUDIT_PAGE_MAX:
            return invalid(
                f"first must be between 1 and {AUDIT_PAGE_MAX}", code="bad_page_size", path="first"
            )
        try:
            page = await info.context.services.identity.read_audit_log(
                info.context.bearer,
                limit=first,
                after=after,
                actor=actor,
                action=action,
                target_id=target_id,
            )
        except (BackendUnavailable, BackendProblem) as exc:
            return from_backend(exc)
        return AuditLogPage.of(page, after=after)


__all__ = ["IdentityQuery", "Me", "ServiceUnavailable"]
