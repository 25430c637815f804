"""Who may do what in identity (checked here, in the service owning the data).

A role is held over an org unit and covers that unit's whole subtree: a comms lead of
subsidiary A covers A's departments and nothing of subsidiary B.
"""

from __future__ import annotations

from collections.abc import Iterable

from chorus_kit.auth import Principal
from chorus_kit.errors import Forbidden
from chorus_kit.events.identity import Role
from identity.domain.org_units import OrgTree

READER_ROLES = (Role.ADMIN, Role.AUDITOR)


def holds_over(principal: Principal, roles: Iterable[Role], unit_id: str, tree: OrgTree) -> bool:
    """True if one of `roles`, held over `unit_id` or one of its ancestors, covers it."""
    covering = tree.path(unit_id)
    return any(principal.holds(role, over=covering) for role in roles)


def require_role_over(
    principal: Principal,
    roles: Iterable[Role],
    unit_id: str,
    tree: OrgTree,
    *,
    code: str,
    detail: str = "your roles do not cover this unit",
) -> None:
    if not holds_over(principal, roles, unit_id, tree):
        raise Forbidden(detail, code=code)


def require_admin_over(principal: Principal, unit_id: str, tree: OrgTree) -> None:
    require_role_over(
        principal,
        (Role.ADMIN,),
        unit_id,
        tree,
        code="not_admin_of_unit",
        detail="an admin role over this unit is required",
    )


def may_read_employee(
    principal: Principal, *, employee_id: str, unit_id: str, tree: OrgTree
) -> bool:
    return principal.sub == employee_id or holds_over(principal, READER_ROLES, unit_id, tree)


def require_may_read(
    principal: Principal, *, employee_id: str, unit_id: str, tree: OrgTree
) -> None:
    if not may_read_employee(principal, employee_id=employee_id, unit_id=unit_id, tree=tree):
        raise Forbidden("you may not read this employee", code="not_allowed_to_read")


def readable_units(
    principal: Principal, tree: OrgTree, *, roles: Iterable[Role] = READER_ROLES
) -> set[str] | None:
    """Units whose staff (or records) the caller may list; None means every unit."""
    wanted = set(roles)
    units: set[str] = set()
    for held in principal.roles:
        if held.role not in wanted:
            continue
        if tree.exists(held.unit) and tree.get(held.unit).parent_id is None:
            return None  # held over the root: everything
        units |= tree.subtree(held.unit)
    return units
