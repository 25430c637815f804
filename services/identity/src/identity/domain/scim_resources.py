"""Chorus people and org units as SCIM resources (RFC 7643), and SCIM resources as Chorus fields.

User (core + enterprise extension) ↔ Employee:
- `userName` is the work email, and so is the one `emails` value (type "work", primary);
  a request changing `userName` sets the email, else one changing the work email does.
  Configure the identity provider to send the same address (mail) for both.
- `name.givenName` / `name.familyName` ↔ given and family name (both required);
  `displayName` and `name.formatted` are "given family" (derived, not stored).
- `title` ↔ title; `externalId` ↔ external id (stored as sent).
- location ↔ the work address's `locality` (`addresses[type eq "work"].locality`, the
  attribute Entra ID and Okta map the office city to); a request's address without a
  locality gives its `formatted` text instead.
- `active` is true exactly for active staff (suspended and offboarded people are inactive).
- enterprise `employeeNumber` ↔ employee number; `manager.value` ↔ the manager's employee
  id; `department` is the unit's name when the unit is a department and `organization` the
  name of the nearest subsidiary (the company's name above any subsidiary): both derived
  from the org tree, so values sent for them are not stored (place people with Groups).
- `groups` (read-only): the person's org unit when it lies below the client's home unit.
Other standard User attributes (phoneNumbers, nickName, ...) are accepted and not stored.

Group ↔ an org unit below the provisioning client's home unit; its members are the current
staff whose unit it is. The home unit itself is "no group".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import EmailStr, Field, TypeAdapter, ValidationError
from scim2_models import URN as SchemaUrn
from scim2_models import (
    Address,
    CaseExact,
    ComplexAttribute,
    Email,
    Extension,
    Group,
    GroupMember,
    GroupMembership,
    InvalidValueException,
    Meta,
    Mutability,
    Name,
    Reference,
    Required,
    User,
)

from chorus_kit.events.identity import EmploymentStatus, UnitKind
from identity.domain.model import Employee
from identity.domain.org_units import OrgTree, OrgUnit
from identity.domain.scim_filter import ENTERPRISE_USER

WORK = "work"
_EMAIL = TypeAdapter(EmailStr)


class EnterpriseManager(ComplexAttribute):
    """The enterprise `manager`; unlike scim2-models' own, `$ref` is not required (Entra ID
    and Okta send only `value`)."""

    value: Annotated[str | None, Required.true, CaseExact.true] = None
    ref: Annotated[Reference[Any] | None, Mutability.read_only] = Field(
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    display_name: Annotated[str | None, Mutability.read_only] = None


class ChorusEnterpriseUser(Extension):
    """The enterprise User extension (RFC 7643 §4.3) as Chorus reads and writes it."""

    __schema__ = SchemaUrn(ENTERPRISE_USER)

    employee_number: str | None = None
    cost_center: str | None = None
    organization: str | None = None
    division: str | None = None
    department: str | None = None
    manager: EnterpriseManager | None = None


ScimUser = User[ChorusEnterpriseUser]


# --- where someone sits, as SCIM tells it --------------------------------------------------------
@dataclass(frozen=True)
class Placement:
    group: OrgUnit | None
    department: str | None
    organization: str | None


def placement(tree: OrgTree, unit_id: str, *, home: str) -> Placement:
    """The person's group (their unit, if below `home`), department and organization."""
    if not tree.exists(unit_id):
        return Placement(group=None, department=None, organization=None)
    unit = tree.get(unit_id)
    in_group = unit_id != home and home in tree.path(unit_id)
    department = unit.name if unit.kind is UnitKind.DEPARTMENT else None
    organization = tree.nearest(unit_id, UnitKind.SUBSIDIARY) or tree.nearest(
        unit_id, UnitKind.COMPANY
    )
    return Placement(
        group=unit if in_group else None,
        department=department,
        organization=organization.name if organization else None,
    )


def unit_values(tree: OrgTree) -> dict[str, dict[str, str | None]]:
    """Unit-derived attribute values per unit, for filters (see scim_filter.UnitValue)."""
    values: dict[str, dict[str, str | None]] = {"department": {}, "organization": {}, "name": {}}
    for unit in tree.units():
        where = placement(tree, unit.id, home=unit.id)
        values["department"][unit.id] = where.department
        values["organization"][unit.id] = where.organization
        values["name"][unit.id] = unit.name
    return values


def version_tag(version: str) -> str:
    return f'W/"{version}"'


def user_resource(employee: Employee, tree: OrgTree, *, home: str, base_url: str) -> ScimUser:
    where = placement(tree, employee.unit_id, home=home)
    display = f"{employee.given_name} {employee.family_name}"
    user = ScimUser(
        id=employee.id,
        external_id=employee.external_id,
        user_name=employee.email,
        name=Name(
            given_name=employee.given_name, family_name=employee.family_name, formatted=display
        ),
        display_name=display,
        title=employee.title,
        active=employee.status is EmploymentStatus.ACTIVE,
        emails=[Email(value=employee.email, type=Email.Type.work, primary=True)],
        addresses=(
            [Address(type=Address.Type.work, locality=employee.location, primary=True)]
            if employee.location
            else None
        ),
        groups=(
            [
                GroupMembership(
                    value=where.group.id,
                    display=where.group.name,
                    ref=f"{base_url}/Groups/{where.group.id}",
                    type="direct",
                )
            ]
            if where.group
            else None
        ),
        meta=Meta(
            resource_type="User",
            created=employee.created_at,
            last_modified=employee.updated_at,
            version=version_tag(str(employee.sequence)),
            location=f"{base_url}/Users/{employee.id}",
        ),
    )
    user[ChorusEnterpriseUser] = ChorusEnterpriseUser(
        employee_number=employee.employee_number,
        department=where.department,
        organization=where.organization,
        manager=(
            EnterpriseManager(
                value=employee.manager_id, ref=f"{base_url}/Users/{employee.manager_id}"
            )
            if employee.manager_id
            else None
        ),
    )
    return user


# --- what a SCIM User asks of Chorus -------------------------------------------------------------
@dataclass(frozen=True)
class UserFields:
    """The part of a SCIM User that Chorus keeps. `active` None: the request did not say."""

    email: str
    given_name: str
    family_name: str
    title: str | None = None
    location: str | None = None
    external_id: str | None = None
    employee_number: str | None = None
    manager_id: str | None = None
    active: bool | None = None


PROFILE_ATTRIBUTES = (
    "email",
    "given_name",
    "family_name",
    "title",
    "location",
    "employee_number",
    "external_id",
)


def employee_fields(employee: Employee) -> UserFields:
    return UserFields(
        email=employee.email.lower(),
        given_name=employee.given_name,
        family_name=employee.family_name,
        title=employee.title,
        location=employee.location,
        external_id=employee.external_id,
        employee_number=employee.employee_number,
        manager_id=employee.manager_id,
        active=employee.status is EmploymentStatus.ACTIVE,
    )


def _text(value: str | None) -> str | None:
    stripped = value.strip() if value else None
    return stripped or None


def _work_email(emails: Sequence[Email] | None) -> str | None:
    if not emails:
        return None
    chosen = (
        next((e for e in emails if e.type == WORK), None)
        or next((e for e in emails if e.primary), None)
        or emails[0]
    )
    return _text(str(chosen.value) if chosen.value else None)


def _location(addresses: Sequence[Address] | None) -> str | None:
    if not addresses:
        return None
    chosen = (
        next((a for a in addresses if a.type == WORK), None)
        or next((a for a in addresses if a.primary), None)
        or addresses[0]
    )
    return _text(chosen.locality) or _text(chosen.formatted)


def _valid_email(value: str, attribute: str) -> str:
    try:
        return str(_EMAIL.validate_python(value)).lower()
    except ValidationError:
        raise InvalidValueException(
            detail=f"{attribute} must be the person's work email address"
        ) from None


def requested_fields(user: ScimUser, *, current: UserFields | None) -> UserFields:
    """What `user` asks Chorus to hold (`current`: what it holds now, None on creation)."""
    user_name = _text(user.user_name)
    if user_name is None:
        raise InvalidValueException(detail="userName is required")
    work_email = _work_email(user.emails)
    if current is None or user_name.lower() != current.email:
        email = _valid_email(user_name, "userName")
    elif work_email and work_email.lower() != current.email:
        email = _valid_email(work_email, 'emails[type eq "work"].value')
    else:
        email = current.email
    given = _text(user.name.given_name) if user.name else None
    family = _text(user.name.family_name) if user.name else None
    if not given or not family:
        raise InvalidValueException(detail="name.givenName and name.familyName are required")
    enterprise = user[ChorusEnterpriseUser]
    manager = enterprise.manager if enterprise else None
    return UserFields(
        email=email,
        given_name=given,
        family_name=family,
        title=_text(user.title),
        location=_location(user.addresses),
        external_id=_text(user.external_id),
        employee_number=_text(enterprise.employee_number) if enterprise else None,
        manager_id=_text(manager.value) if manager else None,
        active=user.active,
    )


def profile_changes(before: UserFields, after: UserFields) -> dict[str, str | None]:
    """The profile fields (as `UpdateProfile` names them) whose value the request changes."""
    return {
        name: getattr(after, name)
        for name in PROFILE_ATTRIBUTES
        if getattr(after, name) != getattr(before, name)
    }


# --- groups --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    id: str
    display: str


def group_version(unit: OrgUnit, member_ids: Iterable[str]) -> str:
    """The unit's sequence and a digest of who is in it (membership lives on employees)."""
    digest = hashlib.sha256("\n".join(sorted(member_ids)).encode()).hexdigest()[:12]
    return f"{unit.sequence}-{digest}"


def group_resource(unit: OrgUnit, members: Sequence[Member], *, base_url: str) -> Group:
    return Group(
        id=unit.id,
        display_name=unit.name,
        members=[
            GroupMember(value=m.id, display=m.display, type="User", ref=f"{base_url}/Users/{m.id}")
            for m in members
        ],
        meta=Meta(
            resource_type="Group",
            version=version_tag(group_version(unit, (m.id for m in members))),
            location=f"{base_url}/Groups/{unit.id}",
        ),
    )


def requested_group_name(group: Group) -> str:
    name = _text(group.display_name)
    if name is None:
        raise InvalidValueException(detail="displayName is required")
    return name


def requested_member_ids(group: Group) -> list[str]:
    """Member ids in request order, once each; only Users can be members."""
    wanted: list[str] = []
    for member in group.members or []:
        if member.type is not None and member.type.lower() != "user":
            raise InvalidValueException(detail="only Users can be members of a group")
        value = _text(member.value)
        if value is None:
            raise InvalidValueException(detail="each member needs a value (a User id)")
        if value not in wanted:
            wanted.append(value)
    return wanted
