"""Every authorisation rule the gateway applies itself, in one place, mirroring the services'.

The services still enforce their own rules on every call (the gateway forwards the
caller's token); these rules decide what the gateway shows without asking a service:
which live events reach a subscriber, which queries it need not even forward. A role
held over an org unit covers that unit's whole subtree, as in identity and access.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chorus_kit.auth import Principal
from chorus_kit.events.identity import Role, UnitKind
from chorus_kit.org_tree import OrgTree

# Who reads other people's records in identity (besides the person themselves).
READER_ROLES = (Role.ADMIN, Role.AUDITOR)
AUDIT_ROLES = (Role.AUDITOR, Role.ADMIN)
# Who is told that a leaver's access was taken away.
OFFBOARDING_WATCHER_ROLES = (Role.ADMIN, Role.AUDITOR)


@dataclass(frozen=True)
class UnitNode:
    """One org unit as identity's `/v1/org-units` lists it."""

    id: str
    name: str
    parent_id: str | None
    kind: UnitKind
    status: str
    version: int
    path: tuple[str, ...]

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @classmethod
    def of(cls, raw: dict[str, Any]) -> UnitNode:
        return cls(
            id=raw["id"],
            name=raw["name"],
            parent_id=raw.get("parent_id"),
            kind=UnitKind(raw["kind"]),
            status=raw.get("status", "open"),
            version=int(raw.get("sequence", 0)),
            path=tuple(raw.get("path") or (raw["id"],)),
        )


Tree = OrgTree[UnitNode]


def holds_over(principal: Principal, roles: Iterable[Role], unit_path: Sequence[str]) -> bool:
    """True if one of `roles`, held over a unit of `unit_path` (a unit and its ancestors)."""
    return any(principal.holds(role, over=unit_path) for role in roles)


def may_read_employee(principal: Principal, *, employee_id: str, unit_path: Sequence[str]) -> bool:
    """Identity's rule: yourself, or an admin or auditor over the employee's unit."""
    return principal.sub == employee_id or holds_over(principal, READER_ROLES, unit_path)


def may_read_audit_log(principal: Principal) -> bool:
    """Auditors and admins read the audit log (identity narrows it to their units)."""
    return any(r.role in AUDIT_ROLES for r in principal.roles)


def may_administer(principal: Principal, unit_path: Sequence[str]) -> bool:
    return holds_over(principal, (Role.ADMIN,), unit_path)


def may_see_offboarding(principal: Principal, *, unit_path: Sequence[str]) -> bool:
    """Admins and auditors over the leaver's unit are told what was taken away."""
    return holds_over(principal, OFFBOARDING_WATCHER_ROLES, unit_path)


def may_see_employee_change(
    principal: Principal, *, employee_id: str, unit_paths: Iterable[Sequence[str]]
) -> bool:
    """A change is shown to whoever may read the employee before or after it (a mover's
    old unit's admins see them leave; the new unit's see them arrive)."""
    return any(
        may_read_employee(principal, employee_id=employee_id, unit_path=path) for path in unit_paths
    )


def reads_everyone(principal: Principal, tree: Tree) -> bool:
    """True if the caller reads every employee (a reader role over a root unit)."""
    return any(
        r.role in READER_ROLES and tree.exists(r.unit) and tree.get(r.unit).parent_id is None
        for r in principal.roles
    )


# --- access's live events -------------------------------------------------------------------------
def may_see_grant_notice(
    principal: Principal, *, holder_id: str, owners: Iterable[str], unit_path: Sequence[str]
) -> bool:
    """A grant about to end: its holder, the account's owners, admins over its unit."""
    return (
        principal.sub == holder_id
        or principal.sub in set(owners)
        or may_administer(principal, unit_path)
    )


def may_decide_request(principal: Principal, *, requester_id: str, deciders: Iterable[str]) -> bool:
    """Access's rule: an owner named as a decider, never on their own request."""
    return principal.sub != requester_id and principal.sub in set(deciders)


def may_see_coverage_alert(
    principal: Principal, *, owners: Iterable[str], unit_path: Sequence[str]
) -> bool:
    """An account short of owners: its owners, and admins over its unit."""
    return principal.sub in set(owners) or may_administer(principal, unit_path)
