"""Access's REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from access.handlers import AccessHandlers
from chorus_kit.web import CurrentPrincipal


class EmploymentHistoryEntry(BaseModel):
    event_id: str
    type: str
    sequence: int
    at: datetime


class EmploymentRead(BaseModel):
    employee_id: str
    status: str
    unit_id: str
    manager_chain: list[str]
    employed_since: datetime | None
    employed_until: datetime | None
    last_sequence: int
    history: list[EmploymentHistoryEntry]


def _handlers(request: Request) -> AccessHandlers:
    handlers: AccessHandlers = request.app.state.handlers
    return handlers


Handlers = Annotated[AccessHandlers, Depends(_handlers)]
router = APIRouter()


@router.get("/v1/employment/{employee_id}")
async def get_employment(
    employee_id: str, handlers: Handlers, by: CurrentPrincipal
) -> EmploymentRead:
    record = await handlers.get_employment(employee_id, by=by)
    return EmploymentRead(employee_id=record["_id"], **record)
