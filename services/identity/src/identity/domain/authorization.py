"""Who may do what to an employee record (checked here, in the service owning the data)."""

from __future__ import annotations

from chorus_kit.auth import Principal
from chorus_kit.errors import Forbidden
from chorus_kit.events.identity import Role


def covering_units(unit_id: str, *, root_unit: str) -> tuple[str, ...]:
    """The units whose roles cover `unit_id`: itself and its ancestors.

    Until the org tree exists (identity issue), the root unit is every unit's only ancestor.
    """
    return (unit_id,) if unit_id == root_unit else (unit_id, root_unit)


def require_admin_over(principal: Principal, unit_id: str, *, root_unit: str) -> None:
    if not principal.holds(Role.ADMIN, over=covering_units(unit_id, root_unit=root_unit)):
        raise Forbidden("an admin role over this unit is required", code="not_admin_of_unit")


def require_may_read(
    principal: Principal, *, employee_id: str, unit_id: str, root_unit: str
) -> None:
    if principal.sub == employee_id:
        return
    units = covering_units(unit_id, root_unit=root_unit)
    if principal.holds(Role.ADMIN, over=units) or principal.holds(Role.AUDITOR, over=units):
        return
    raise Forbidden("you may not read this employee", code="not_allowed_to_read")


READER_ROLES = (Role.ADMIN, Role.AUDITOR)


def readable_units(principal: Principal, *, root_unit: str) -> set[str] | None:
    """Units whose staff the caller may list; None means every unit.

    Until the org tree exists, a reader role over the root covers everything and any other
    grant covers its own unit.
    """
    units = {r.unit for r in principal.roles if r.role in READER_ROLES}
    return None if root_unit in units else units
