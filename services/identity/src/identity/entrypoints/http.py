"""Identity's REST API: parse, call a handler, shape the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from chorus_kit.auth import SigningKey
from chorus_kit.events.identity import EmploymentStatus, RoleAssignment
from chorus_kit.web import CurrentPrincipal
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
from identity.handlers import IdentityHandlers


class EmployeeRead(BaseModel):
    id: str
    email: str
    given_name: str
    family_name: str
    unit_id: str
    manager_id: str | None
    manager_chain: list[str]
    roles: list[RoleAssignment]
    status: EmploymentStatus
    start_date: datetime
    offboarded_at: datetime | None
    sequence: int

    @classmethod
    def of(cls, employee: Employee) -> EmployeeRead:
        return cls(
            id=employee.id,
            email=employee.email,
            given_name=employee.given_name,
            family_name=employee.family_name,
            unit_id=employee.unit_id,
            manager_id=employee.manager_id,
            manager_chain=list(employee.manager_chain),
            roles=list(employee.roles),
            status=employee.status,
            start_date=employee.start_date,
            offboarded_at=employee.offboarded_at,
            sequence=employee.sequence,
        )


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


@router.get("/v1/employees/{employee_id}")
async def get_employee(employee_id: str, handlers: Handlers, by: CurrentPrincipal) -> EmployeeRead:
    return EmployeeRead.of(await handlers.get_employee(employee_id, by=by))


@router.post("/v1/employees/{employee_id}/offboard")
async def offboard_employee(
    employee_id: str, body: OffboardEmployee, handlers: Handlers, by: CurrentPrincipal
) -> EmployeeRead:
    return EmployeeRead.of(await handlers.offboard_employee(employee_id, body, by=by))


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


@router.get("/.well-known/jwks.json", include_in_schema=False)
async def jwks(request: Request) -> dict[str, Any]:
    key: SigningKey = request.app.state.signing_key
    return {"keys": [key.public_jwk()]}
