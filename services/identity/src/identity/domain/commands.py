"""Commands identity accepts (imperative: what someone asks for)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

from chorus_kit.events.identity import EmploymentStatus, RoleAssignment, SocialNetwork, UnitKind

Handle = Annotated[str, Field(min_length=1, max_length=200)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class HireEmployee(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: EmailStr
    given_name: str = Field(min_length=1, max_length=200)
    family_name: str = Field(min_length=1, max_length=200)
    unit_id: str = Field(min_length=1, max_length=100)
    manager_id: str | None = Field(default=None, max_length=100)
    start_date: datetime | None = None
    roles: list[RoleAssignment] = Field(default_factory=list, max_length=50)
    title: ShortText | None = None
    location: ShortText | None = None
    social_handles: dict[SocialNetwork, Handle] = Field(default_factory=dict)
    employee_number: str | None = Field(default=None, min_length=1, max_length=100)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)


class UpdateProfile(BaseModel):
    """Profile changes: only the fields present change; an explicit null clears one."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    email: EmailStr | None = None
    given_name: ShortText | None = None
    family_name: ShortText | None = None
    title: ShortText | None = None
    location: ShortText | None = None
    social_handles: dict[SocialNetwork, Handle] | None = None
    employee_number: str | None = Field(default=None, min_length=1, max_length=100)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)


PROFILE_FIELDS = frozenset(UpdateProfile.model_fields)


class OffboardEmployee(BaseModel):
    """Offboard now, or at `at` (the service's scheduler runs it then, across restarts)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=500)
    at: AwareDatetime | None = None


class SuspendEmployee(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=500)


class ReinstateEmployee(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MoveEmployee(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    unit_id: str = Field(min_length=1, max_length=100)
    manager_id: str | None = Field(default=None, max_length=100)


class ChangeRoles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[RoleAssignment] = Field(max_length=50)


class RehireEmployee(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    unit_id: str = Field(min_length=1, max_length=100)
    manager_id: str | None = Field(default=None, max_length=100)
    start_date: datetime | None = None
    roles: list[RoleAssignment] = Field(default_factory=list, max_length=50)


class EmployeeFilter(BaseModel):
    """List/search criteria; `q` matches the start of an email or a family name."""

    model_config = ConfigDict(str_strip_whitespace=True)
    unit_id: str | None = Field(default=None, max_length=100)
    status: EmploymentStatus | None = None
    q: str | None = Field(default=None, min_length=1, max_length=100)
    manager_id: str | None = Field(default=None, max_length=100, description="direct reports of")


class Page(BaseModel):
    limit: int = Field(default=50, ge=1, le=100)
    after: str | None = Field(default=None, max_length=200)


class CreateOrgUnit(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    kind: UnitKind
    parent_id: str | None = Field(default=None, max_length=100)
    id: str | None = Field(
        default=None, max_length=63, description="a readable id (`dept-eng`); generated if absent"
    )


class RenameOrgUnit(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)


class MoveOrgUnit(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    parent_id: str = Field(min_length=1, max_length=100)
