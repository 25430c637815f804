"""Data of the events on `chorus.identity.*` topics (the contract consumers rely on)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Role(StrEnum):
    ADMIN = "admin"
    COMMS = "comms"
    ANALYST = "analyst"
    EMPLOYEE = "employee"
    AUDITOR = "auditor"


class EmploymentStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    OFFBOARDED = "offboarded"


class RoleAssignment(BaseModel):
    """A role held over an org unit and its subtree."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    role: Role
    unit: str = Field(min_length=1)


class EmployeeSnapshot(BaseModel):
    """What every employee event carries, so consumers never call identity back."""

    model_config = ConfigDict(extra="forbid")
    employee_id: str = Field(min_length=1)
    email: str
    given_name: str
    family_name: str
    unit_id: str
    manager_id: str | None = None
    manager_chain: list[str] = Field(
        default_factory=list, description="manager ids from the direct manager upwards"
    )
    roles: list[RoleAssignment] = Field(default_factory=list)
    status: EmploymentStatus


class EmployeeHired(EmployeeSnapshot):
    """`chorus.identity.employee.hired`: someone joined; they are active from `start_date`."""

    start_date: datetime


class EmployeeOffboarded(EmployeeSnapshot):
    """`chorus.identity.employee.offboarded`: someone left; every access they hold must end."""

    offboarded_at: datetime
    reason: str = Field(max_length=500)


class SessionsRevoked(BaseModel):
    """`chorus.identity.session.revoked`: every token issued to the person before
    `revoked_before` must be refused from now on. Compacted, keyed by person."""

    model_config = ConfigDict(extra="forbid")
    person_id: str = Field(min_length=1)
    revoked_before: datetime
    reason: str = Field(max_length=200)


class EmployeeSuspended(EmployeeSnapshot):
    """`chorus.identity.employee.suspended`: access paused (leave, investigation); sessions end."""

    suspended_at: datetime
    reason: str = Field(max_length=500)


class EmployeeReinstated(EmployeeSnapshot):
    """`chorus.identity.employee.reinstated`: a suspended employee is active again."""

    reinstated_at: datetime


class EmployeeMoved(EmployeeSnapshot):
    """`chorus.identity.employee.moved`: a change of unit (and maybe manager)."""

    previous_unit_id: str
    previous_manager_id: str | None = None


class EmployeeRoleChanged(EmployeeSnapshot):
    """`chorus.identity.employee.role_changed`: the roles held (and where) changed."""

    previous_roles: list[RoleAssignment]


class EmployeeRehired(EmployeeSnapshot):
    """`chorus.identity.employee.rehired`: a former employee is back, active from `start_date`."""

    start_date: datetime
