"""Who may do what in access (checked here, in the service that owns the data).

Two kinds of authority meet here. Org roles (admin, auditor, employee, ...) come from the
caller's token and are held over an org unit, covering its subtree: an admin over a
subsidiary manages the accounts of that subsidiary and its departments. Account roles
(owner, publisher, viewer) are grants on one account: owners decide requests and see the
account's grants; publishers and viewers see only their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from access.domain.accounts import Account
from access.domain.grants import AccessRequest, Grant
from access.domain.org_view import UnitTree
from chorus_kit.auth import Principal
from chorus_kit.errors import Forbidden
from chorus_kit.events.access import AccountRole
from chorus_kit.events.identity import Role

READERS = (Role.ADMIN, Role.AUDITOR)
ANY_ROLE = tuple(Role)


def holds_over(principal: Principal, roles: Iterable[Role], unit_id: str, tree: UnitTree) -> bool:
    """True if one of `roles`, held over `unit_id` or one of its ancestors, covers it."""
    covering = tree.path(unit_id)
    return any(principal.holds(role, over=covering) for role in roles)


def require_admin_over(
    principal: Principal, unit_id: str, tree: UnitTree, *, code: str = "not_admin_of_unit"
) -> None:
    if not holds_over(principal, (Role.ADMIN,), unit_id, tree):
        raise Forbidden("an admin role over the account's unit is required", code=code)


def units_covered(
    principal: Principal, tree: UnitTree, roles: Iterable[Role] = READERS
) -> set[str] | None:
    """The units `roles` of the caller cover; None means every unit (held over the root)."""
    wanted = set(roles)
    units: set[str] = set()
    for held in principal.roles:
        if held.role not in wanted:
            continue
        if held.unit == tree.root_id:
            return None
        units |= tree.subtree(held.unit)
    return units


def require_reader(principal: Principal) -> None:
    """Reports and the audit log are for admins and auditors (then scoped by their units)."""
    if not any(r.role in READERS for r in principal.roles):
        raise Forbidden("reports are for auditors and admins", code="not_auditor")


def require_may_add_owner(principal: Principal, account: Account, tree: UnitTree) -> None:
    """An admin over the account's unit, or one of its owners, may add an owner."""
    if principal.sub in account.owners:
        return
    require_admin_over(principal, account.unit_id, tree, code="not_owner_or_admin")


def require_may_decide(principal: Principal, request: AccessRequest, owners: Iterable[str]) -> None:
    """An owner of the account decides, and never on their own request."""
    if principal.sub == request.requester_id:
        raise Forbidden("nobody decides their own request", code="own_request")
    if principal.sub not in set(owners):
        raise Forbidden("only an owner of the account decides its requests", code="not_decider")


def require_may_revoke(
    principal: Principal, grant: Grant, account: Account, tree: UnitTree
) -> None:
    """Owners or admins revoke; holders may give up their own grant. Ownership itself is
    removed by an admin (it changes who decides for the account)."""
    if grant.role is not AccountRole.OWNER and (
        principal.sub == grant.holder_id or principal.sub in account.owners
    ):
        return
    require_admin_over(principal, grant.account_unit_id, tree, code="not_allowed_to_revoke")


@dataclass(frozen=True)
class Visibility:
    """What one caller may see of accounts, grants and requests (computed once per call).

    `reader_units` (admin, auditor) see every grant and request of their units' accounts;
    `member_units` (any role) see those accounts' register entries, so staff can find an
    account to ask for; owners see their accounts' grants and requests; everyone sees
    their own grants and requests. None means every unit.
    """

    person_id: str
    reader_units: set[str] | None
    member_units: set[str] | None
    owned_accounts: frozenset[str]
    held_accounts: frozenset[str]

    @classmethod
    def everything(cls, person_id: str) -> Visibility:
        """No filter (reports apply their own unit scope)."""
        return cls(person_id, None, None, frozenset(), frozenset())

    @property
    def sees_everything(self) -> bool:
        """A reader over the whole tree: the accounts they own or hold change no answer."""
        return self.reader_units is None and self.member_units is None

    def sees_account(self, account_id: str, unit_id: str) -> bool:
        return (
            _within(unit_id, self.member_units)
            or account_id in self.owned_accounts
            or account_id in self.held_accounts
        )

    def sees_all_of_account(self, account_id: str, unit_id: str) -> bool:
        """Its grants and requests: owners, and admins or auditors over its unit."""
        return account_id in self.owned_accounts or _within(unit_id, self.reader_units)

    def sees_grant(self, grant: Grant) -> bool:
        return grant.holder_id == self.person_id or self.sees_all_of_account(
            grant.account_id, grant.account_unit_id
        )

    def sees_request(self, request: AccessRequest) -> bool:
        return request.requester_id == self.person_id or self.sees_all_of_account(
            request.account_id, request.account_unit_id
        )


def _within(unit_id: str, units: set[str] | None) -> bool:
    return units is None or unit_id in units


def visibility(
    principal: Principal,
    tree: UnitTree,
    *,
    owned_accounts: Iterable[str],
    held_accounts: Iterable[str],
) -> Visibility:
    return Visibility(
        person_id=principal.sub,
        reader_units=units_covered(principal, tree, READERS),
        member_units=units_covered(principal, tree, ANY_ROLE),
        owned_accounts=frozenset(owned_accounts),
        held_accounts=frozenset(held_accounts),
    )
