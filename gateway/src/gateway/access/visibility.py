"""NotFound or Forbidden for access's objects: what the caller may not see is not there.

Access refuses a read of an account, request, grant, lease or review the caller may not
see with 403 `not_allowed_to_read` (or `vault_forbidden` for a lease), and an action on one
with a 403 naming the role it lacks. Passed on as `Forbidden`, either would tell the
caller that the object exists. So the gateway answers:

- `NotFound` (one code and message per kind, the same whether the object is missing or
  hidden) when the object does not exist or the caller may not see it;
- `Forbidden` only when the caller may see the object but not do this to it (approving a
  request they can read but do not decide, ...), or for refusals that concern no object
  (an audit log for non-auditors, a report over a unit outside their roles).

A refused action tells the two apart by reading the object with the caller's token: one
more call, on the refusal path only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from gateway.clients.access import AccessClient
from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.problems import NotFound, ProblemResult, from_backend

# Access's codes for "it exists, but it is not yours to see".
HIDDEN_CODES = frozenset({"not_allowed_to_read"})


class Kind(Enum):
    """Access's objects addressed by id: (label, access's code for a missing one)."""

    ACCOUNT = ("account", "account_not_found")
    REQUEST = ("access request", "request_not_found")
    GRANT = ("grant", "grant_not_found")
    LEASE = ("lease", "lease_not_found")
    REVIEW = ("access review", "review_not_found")

    @property
    def label(self) -> str:
        return self.value[0]

    @property
    def code(self) -> str:
        return self.value[1]


def not_found(kind: Kind) -> NotFound:
    """The one answer for a missing object and for a hidden one (nothing echoes the id)."""
    return NotFound(message=f"no such {kind.label} (or not yours to see)", code=kind.code)


def _hides(exc: BackendProblem, kind: Kind) -> bool:
    return (exc.status == 404 and exc.code == kind.code) or (
        exc.status == 403 and exc.code in HIDDEN_CODES
    )


def read_refusal(exc: BackendProblem | BackendUnavailable, kind: Kind) -> ProblemResult:
    """A read of one object refused: missing and hidden are the same NotFound."""
    if isinstance(exc, BackendProblem) and _hides(exc, kind):
        return not_found(kind)
    return from_backend(exc)


@dataclass(frozen=True)
class Target:
    """The object an action is about."""

    kind: Kind
    id: str


async def action_refusal(
    info: Info, exc: BackendProblem | BackendUnavailable, target: Target
) -> ProblemResult:
    """An action refused: NotFound if the caller may not see its object, else the refusal."""
    if isinstance(exc, BackendUnavailable):
        return from_backend(exc)
    if _hides(exc, target.kind):
        return not_found(target.kind)
    if exc.status == 403:
        try:
            seen = await _may_see(info, target)
        except BackendUnavailable as unavailable:
            return from_backend(unavailable)
        if not seen:
            return not_found(target.kind)
    return from_backend(exc)


async def _may_see(info: Info, target: Target) -> bool:
    """Whether access lets the caller read the object (any 403 or 404: it does not)."""
    if target.kind is Kind.ACCOUNT:
        try:
            return await info.context.access.account.load(target.id) is not None
        except BackendProblem:
            return False
    client = info.context.services.access
    read = _READS[target.kind](client)
    try:
        await read(info.context.bearer, target.id)
    except BackendProblem as exc:
        return exc.status not in (403, 404)
    return True


_READS: dict[Kind, Callable[[AccessClient], Callable[[str, str], Awaitable[object]]]] = {
    Kind.REQUEST: lambda c: c.get_request,
    Kind.GRANT: lambda c: c.get_grant,
    Kind.LEASE: lambda c: c.get_lease,
    Kind.REVIEW: lambda c: c.get_review,
}
