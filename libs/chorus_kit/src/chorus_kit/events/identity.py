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


class SocialNetwork(StrEnum):
    LINKEDIN = "linkedin"
    X = "x"
    INSTAGRAM = "instagram"
    FACEBOOK = "facebook"
    TIKTOK = "tiktok"
    YOUTUBE = "youtube"


class UnitKind(StrEnum):
    COMPANY = "company"
    SUBSIDIARY = "subsidiary"
    DEPARTMENT = "department"


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
    unit_path: list[str] = Field(
        default_factory=list, description="the unit, then its ancestors up to the company"
    )
    manager_id: str | None = None
    manager_chain: list[str] = Field(
        default_factory=list, description="manager ids from the direct manager upwards"
    )
    roles: list[RoleAssignment] = Field(default_factory=list)
    status: EmploymentStatus
    title: str | None = None
    location: str | None = None
    social_handles: dict[SocialNetwork, str] = Field(default_factory=dict)
    employee_number: str | None = None
    external_id: str | None = None


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


class EmployeeUpdated(EmployeeSnapshot):
    """`chorus.identity.employee.updated`: profile fields changed (names, email, title, ...)."""

    changed: list[str] = Field(description="the profile fields that changed")


class OrgUnitSnapshot(BaseModel):
    """What every org-unit event carries."""

    model_config = ConfigDict(extra="forbid")
    unit_id: str = Field(min_length=1)
    name: str
    kind: UnitKind
    parent_id: str | None = None
    path: list[str] = Field(description="the unit, then its ancestors up to the company")
    status: str = Field(description="open or closed")


class OrgUnitCreated(OrgUnitSnapshot):
    """`chorus.identity.org_unit.created`: a new company, subsidiary or department."""


class OrgUnitRenamed(OrgUnitSnapshot):
    """`chorus.identity.org_unit.renamed`."""

    previous_name: str


class OrgUnitMoved(OrgUnitSnapshot):
    """`chorus.identity.org_unit.moved`: the unit (with its subtree) has a new parent."""

    previous_parent_id: str | None = None


class OrgUnitClosed(OrgUnitSnapshot):
    """`chorus.identity.org_unit.closed`: no staff and no open children remain in it."""
