"""Identity's REST API: parse, call a handler, shape the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from chorus_kit.audit import AuditLog
from chorus_kit.errors import ChorusError, Forbidden
from chorus_kit.events.identity import (
    EmploymentStatus,
    Role,
    RoleAssignment,
    SocialNetwork,
    UnitKind,
)
from chorus_kit.paging import AuditPage, AuditQuery, audit_page
from chorus_kit.web import CurrentPrincipal
from identity.domain.authorization import readable_units
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
from identity.handlers import IdentityHandlers


class ScheduledOffboardingRead(BaseModel):
    at: datetime
    reason: str


class EmployeeRead(BaseModel):
    id: str
    email: str
    given_name: str
    family_name: str
    title: str | None
    location: str | None
    social_handles: dict[SocialNetwork, str]
    employee_number: str | None
    external_id: str | None
    unit_id: str
    unit_path: list[str]
    manager_id: str | None
    manager_chain: list[str]
    roles: list[RoleAssignment]
    status: EmploymentStatus
    start_date: datetime
    offboarded_at: datetime | None
    scheduled_offboarding: ScheduledOffboardingRead | None
    created_at: datetime | None
    updated_at: datetime | None
    sequence: int = Field(description="the record's version; send it back as If-Match")

    @classmethod
    def of(cls, employee: Employee) -> EmployeeRead:
        scheduled = employee.scheduled_offboarding
        return cls(
            id=employee.id,
            email=employee.email,
            given_name=employee.given_name,
            family_name=employee.family_name,
            title=employee.title,
            location=employee.location,
            social_handles=employee.handles,
            employee_number=employee.employee_number,
            external_id=employee.external_id,
            unit_id=employee.unit_id,
            unit_path=list(employee.unit_path),
            manager_id=employee.manager_id,
            manager_chain=list(employee.manager_chain),
            roles=list(employee.roles),
            status=employee.status,
            start_date=employee.start_date,
            offboarded_at=employee.offboarded_at,
            scheduled_offboarding=(
                ScheduledOffboardingRead(at=scheduled.at, reason=scheduled.reason)
                if scheduled
                else None
            ),
            created_at=employee.created_at,
            updated_at=employee.updated_at,
            sequence=employee.sequence,
        )


class OrgUnitRead(BaseModel):
    id: str
    name: str
    kind: UnitKind
    parent_id: str | None
    path: list[str] = Field(description="the unit, then its ancestors up to the company")
    status: str
    sequence: int

    @classmethod
    def of(cls, unit: OrgUnit, tree: OrgTree | None = None) -> OrgUnitRead:
        return cls(
            id=unit.id,
            name=unit.name,
            kind=unit.kind,
            parent_id=unit.parent_id,
            path=list(tree.path(unit.id)) if tree else [unit.id],
            status=unit.status,
            sequence=unit.sequence,
        )


def if_match(value: str | None) -> int | None:
    """The version an `If-Match` header names (`"3"`, `W/"3"` or `3`), if any."""
    if value is None or value.strip() == "*":
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise ChorusError("If-Match must name a version this API gave", code="bad_if_match")
    return int(raw)


IfMatch = Annotated[str | None, Header(alias="If-Match")]


def _handlers(request: Request) -> IdentityHandlers:
    handlers: IdentityHandlers = request.app.state.handlers
    return handlers


Handlers = Annotated[IdentityHandlers, Depends(_handlers)]
router = APIRouter()


@router.post("/v1/employees", status_code=status.HTTP_201_CREATED)
async def hire_employee(
    body: HireEmployee, handlers: Handlers, by: CurrentPrincipal
) -> EmployeeRead:
    return EmployeeRead.of(await handlers.hire_employee(body, by=by))


class EmployeePage(BaseModel):
    items: list[EmployeeRead]
    next_cursor: str | None


class BatchGet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=100
    )


class BatchGetResult(BaseModel):
    employees: list[EmployeeRead]
    not_found: list[str] = Field(description="missing, or not yours to read")


class EmployeeListQuery(EmployeeFilter, Page):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


@router.get("/v1/employees")
async def list_employees(
    handlers: Handlers, by: CurrentPrincipal, query: Annotated[EmployeeListQuery, Query()]
) -> EmployeePage:
    criteria = EmployeeFilter.model_validate(
        query.model_dump(include=set(EmployeeFilter.model_fields))
    )
    page = Page.model_validate(query.model_dump(include=set(Page.model_fields)))
    found, next_cursor = await handlers.list_employees(criteria, page, by=by)
    return EmployeePage(items=[EmployeeRead.of(e) for e in found], next_cursor=next_cursor)


@router.post("/v1/employees/batch-get")
async def batch_get_employees(
    body: BatchGet, handlers: Handlers, by: CurrentPrincipal
) -> BatchGetResult:
    """Many employees in one request (the gateway's DataLoaders)."""
    found = await handlers.get_employees(body.ids, by=by)
    ids = {e.id for e in found}
    return BatchGetResult(
        employees=[EmployeeRead.of(e) for e in found],
        not_found=[i for i in dict.fromkeys(body.ids) if i not in ids],
    )


class ReportsOfManagers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    manager_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=100
    )
    limit: int = Field(default=100, ge=1, le=100, description="at most this many per manager")


class ManagerReports(BaseModel):
    manager_id: str
    employees: list[EmployeeRead]


class ReportsByManager(BaseModel):
    groups: list[ManagerReports] = Field(description="one per manager asked, in that order")


@router.post("/v1/employees/by-managers")
async def reports_by_managers(
    body: ReportsOfManagers, handlers: Handlers, by: CurrentPrincipal
) -> ReportsByManager:
    """The direct reports of many managers in one request (the gateway's DataLoaders);
    only those the caller may read."""
    groups = await handlers.direct_reports_of(body.manager_ids, by=by, limit=body.limit)
    return ReportsByManager(
        groups=[
            ManagerReports(manager_id=m, employees=[EmployeeRead.of(e) for e in found])
            for m, found in groups.items()
        ]
    )


def _versioned(response: Response, employee: Employee) -> EmployeeRead:
    response.headers["ETag"] = f'W/"{employee.sequence}"'
    return EmployeeRead.of(employee)


@router.get("/v1/employees/{employee_id}")
async def get_employee(
    employee_id: str, handlers: Handlers, by: CurrentPrincipal, response: Response
) -> EmployeeRead:
    return _versioned(response, await handlers.get_employee(employee_id, by=by))


@router.patch("/v1/employees/{employee_id}")
async def update_profile(
    employee_id: str,
    body: UpdateProfile,
    handlers: Handlers,
    by: CurrentPrincipal,
    response: Response,
    match: IfMatch = None,
) -> EmployeeRead:
    """Change profile fields (only those sent); emits `employee.updated`."""
    updated = await handlers.update_profile(employee_id, body, by=by, if_sequence=if_match(match))
    return _versioned(response, updated)


@router.post("/v1/employees/{employee_id}/offboard")
async def offboard_employee(
    employee_id: str,
    body: OffboardEmployee,
    handlers: Handlers,
    by: CurrentPrincipal,
    match: IfMatch = None,
) -> EmployeeRead:
    """Offboard now, or at `at` (then the service's scheduler runs it, across restarts)."""
    return EmployeeRead.of(
        await handlers.offboard_employee(employee_id, body, by=by, if_sequence=if_match(match))
    )


@router.delete("/v1/employees/{employee_id}/scheduled-offboarding")
async def cancel_scheduled_offboarding(
    employee_id: str, handlers: Handlers, by: CurrentPrincipal, match: IfMatch = None
) -> EmployeeRead:
    return EmployeeRead.of(
        await handlers.cancel_scheduled_offboarding(employee_id, by=by, if_sequence=if_match(match))
    )


@router.post("/v1/employees/{employee_id}/suspend")
async def suspend_employee(
    employee_id: str, body: SuspendEmployee, handlers: Handlers, by: CurrentPrincipal
) -> EmployeeRead:
    return EmployeeRead.of(await handlers.suspend_employee(employee_id, body, by=by))


@router.post("/v1/employees/{employee_id}/reinstate")
async def reinstate_employee(
    employee_id: str, handlers: Handlers, by: CurrentPrincipal
) -> EmployeeRead:
    return EmployeeRead.of(await handlers.reinstate_employee(employee_id, by=by))


@router.post("/v1/employees/{employee_id}/move")
async def move_employee(
    employee_id: str, body: MoveEmployee, handlers: Handlers, by: CurrentPrincipal
) -> EmployeeRead:
    return EmployeeRead.of(await handlers.move_employee(employee_id, body, by=by))


@router.put("/v1/employees/{employee_id}/roles")
async def change_roles(
    employee_id: str, body: ChangeRoles, handlers: Handlers, by: CurrentPrincipal
) -> EmployeeRead:
    return EmployeeRead.of(await handlers.change_roles(employee_id, body, by=by))


@router.post("/v1/employees/{employee_id}/rehire")
async def rehire_employee(
    employee_id: str, body: RehireEmployee, handlers: Handlers, by: CurrentPrincipal
) -> EmployeeRead:
    return EmployeeRead.of(await handlers.rehire_employee(employee_id, body, by=by))


# --- org units ----------------------------------------------------------------------------
@router.post("/v1/org-units", status_code=status.HTTP_201_CREATED)
async def create_org_unit(
    body: CreateOrgUnit, handlers: Handlers, by: CurrentPrincipal
) -> OrgUnitRead:
    unit = await handlers.create_unit(body, by=by)
    return OrgUnitRead.of(unit, await handlers.list_units(by=by))


@router.get("/v1/org-units")
async def list_org_units(handlers: Handlers, by: CurrentPrincipal) -> list[OrgUnitRead]:
    """The whole tree (a few hundred units at most), parents before children."""
    tree = await handlers.list_units(by=by)
    units = sorted(tree.units(), key=lambda u: (len(tree.path(u.id)), u.name, u.id))
    return [OrgUnitRead.of(u, tree) for u in units]


@router.get("/v1/org-units/{unit_id}")
async def get_org_unit(unit_id: str, handlers: Handlers, by: CurrentPrincipal) -> OrgUnitRead:
    unit, tree = await handlers.get_unit(unit_id, by=by)
    return OrgUnitRead.of(unit, tree)


@router.patch("/v1/org-units/{unit_id}")
async def rename_org_unit(
    unit_id: str, body: RenameOrgUnit, handlers: Handlers, by: CurrentPrincipal
) -> OrgUnitRead:
    return OrgUnitRead.of(await handlers.rename_unit(unit_id, body, by=by))


@router.post("/v1/org-units/{unit_id}/move")
async def move_org_unit(
    unit_id: str, body: MoveOrgUnit, handlers: Handlers, by: CurrentPrincipal
) -> OrgUnitRead:
    return OrgUnitRead.of(await handlers.move_unit(unit_id, body, by=by))


@router.post("/v1/org-units/{unit_id}/close")
async def close_org_unit(unit_id: str, handlers: Handlers, by: CurrentPrincipal) -> OrgUnitRead:
    return OrgUnitRead.of(await handlers.close_unit(unit_id, by=by))


# --- audit ------------------------------------------------------------------------------------
@router.get("/v1/audit")
async def read_audit_log(
    request: Request,
    handlers: Handlers,
    by: CurrentPrincipal,
    query: Annotated[AuditQuery, Query()],
) -> AuditPage:
    """Privileged actions, newest first: auditors and admins, for the units they cover."""
    tree = await handlers.list_units(by=by)
    if not any(r.role in (Role.AUDITOR, Role.ADMIN) for r in by.roles):
        raise Forbidden("the audit log is for auditors and admins", code="not_auditor")
    units = readable_units(by, tree, roles=(Role.AUDITOR, Role.ADMIN))
    audit: AuditLog = request.app.state.audit
    return await audit_page(
        query,
        lambda before, limit: audit.search(
            units=units, before=before, limit=limit, **query.filters()
        ),
    )
