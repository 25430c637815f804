"""Identity's types as the front ends see them: employees, org units, roles, audit entries.

Objects are built from identity's JSON answers; every field that needs another lookup
(an employee's unit, manager, chain) goes through the request's loaders.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from chorus_kit.events.identity import EmploymentStatus, Role, SocialNetwork, UnitKind
from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.pagination import MAX_PAGE, PageInfo
from gateway.permissions import Tree, UnitNode
from gateway.problems import (
    Conflict,
    Forbidden,
    GatewayError,
    NotFound,
    ProblemResult,
    ServiceUnavailable,
    ValidationFailed,
    from_backend,
    invalid,
)

if TYPE_CHECKING:
    from gateway.access.types import Grant

Json = dict[str, Any]

# The contract's own enums, as GraphQL enums (values stay the contract's).
for _enum in (EmploymentStatus, Role, SocialNetwork, UnitKind):
    strawberry.enum(_enum)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def unavailable_field(exc: BackendUnavailable | BackendProblem) -> GatewayError:
    """A nested field whose service failed: null there, and an error naming the service."""
    if isinstance(exc, BackendUnavailable):
        return GatewayError(
            f"{exc.service} did not answer in time", code="SERVICE_UNAVAILABLE", service=exc.service
        )
    from_backend(exc)  # raises for a revoked session
    return GatewayError("refused by the service", code=exc.code.upper(), service=exc.service)


async def tree_of(info: Info) -> Tree:
    try:
        return await info.context.identity.tree()
    except (BackendUnavailable, BackendProblem) as exc:
        raise unavailable_field(exc) from None


def _unit_in(tree: Tree, unit_id: str) -> OrgUnit | None:
    return OrgUnit.of(tree.get(unit_id)) if tree.exists(unit_id) else None


async def _unit_later(info: Info, unit_id: str) -> OrgUnit | None:
    return _unit_in(await tree_of(info), unit_id)


def unit_of(info: Info, unit_id: str) -> Any:
    """The unit, at once when the request has the tree already (a list of employees asks
    for it beside the list), else an awaitable of it: 50 rows need not await 50 times."""
    tree = info.context.identity.tree_now()
    return _unit_in(tree, unit_id) if tree is not None else _unit_later(info, unit_id)


def _shown(selection: Any) -> bool:
    """False for a selection left out by `@skip(if: true)` or `@include(if: false)`."""
    directives = getattr(selection, "directives", None) or {}
    return not (
        directives.get("skip", {}).get("if") is True
        or directives.get("include", {}).get("if") is False
    )


def _fields_of_level(selections: Any) -> list[Any]:
    """The fields selected on one level, those inside fragments included."""
    found, stack = [], list(selections or ())
    while stack:
        selection = stack.pop()
        if not _shown(selection):
            continue
        if hasattr(selection, "arguments"):
            found.append(selection)
        else:  # a fragment
            stack.extend(selection.selections or ())
    return found


def grants_wanted_per_row(info: Info) -> set[bool]:
    """The `activeOnly` values of `grants` asked on the rows of this employee connection
    (`nodes { grants }` or `edges { node { grants } }`, through fragments)."""
    rows = []
    for level in _fields_of_level(s for f in info.selected_fields for s in f.selections):
        if level.name == "nodes":
            rows.extend(_fields_of_level(level.selections))
        elif level.name == "edges":
            nodes = [f for f in _fields_of_level(level.selections) if f.name == "node"]
            rows.extend(f for n in nodes for f in _fields_of_level(n.selections))
    # An unset variable reaches the resolver as the argument's default (true).
    return {f.arguments.get("activeOnly") is not False for f in rows if f.name == "grants"}


def wants_units(info: Info) -> bool:
    """Whether the selection below this field asks for an org unit anywhere."""
    stack = list(info.selected_fields)
    while stack:
        field = stack.pop()
        if not _shown(field):
            continue
        if getattr(field, "name", None) in ("unit", "parent", "children", "ancestors"):
            return True
        stack.extend(s for s in getattr(field, "selections", ()) or ())
    return False


@strawberry.type(description="A role held over an org unit, covering its whole subtree.")
class RoleGrant:
    role: Role
    unit_id: strawberry.ID

    @strawberry.field(description="The unit the role covers (with its subtree).")
    def unit(self, info: Info) -> OrgUnit | None:
        return unit_of(info, self.unit_id)  # type: ignore[no-any-return]


@strawberry.type
class SocialHandle:
    network: SocialNetwork
    handle: str


@strawberry.type
class ScheduledOffboarding:
    at: datetime
    reason: str


@strawberry.type(description="A member of staff, as identity knows them.")
class Employee:
    id: strawberry.ID
    email: str
    given_name: str
    family_name: str
    title: str | None
    location: str | None
    employee_number: str | None
    external_id: str | None
    status: EmploymentStatus
    start_date: datetime
    offboarded_at: datetime | None
    scheduled_offboarding: ScheduledOffboarding | None
    created_at: datetime | None
    updated_at: datetime | None
    version: int = strawberry.field(
        description="The record's version: send it back as `expectedVersion` to change it "
        "only if nobody changed it meanwhile."
    )
    unit_id: strawberry.ID
    manager_id: strawberry.ID | None
    # A plain field, not a resolver: strawberry resolves plain fields without its
    # per-resolver wrapper (a list of 50 people asks for it 50 times).
    display_name: str
    raw_roles: strawberry.Private[list[Json]]
    handles: strawberry.Private[dict[str, str]]
    chain: strawberry.Private[list[str]]

    @classmethod
    def of(cls, raw: Json) -> Employee:
        scheduled = raw.get("scheduled_offboarding")
        return cls(
            id=strawberry.ID(raw["id"]),
            email=raw["email"],
            given_name=raw["given_name"],
            family_name=raw["family_name"],
            title=raw.get("title"),
            location=raw.get("location"),
            employee_number=raw.get("employee_number"),
            external_id=raw.get("external_id"),
            status=EmploymentStatus(raw["status"]),
            start_date=datetime.fromisoformat(raw["start_date"]),
            offboarded_at=_when(raw.get("offboarded_at")),
            scheduled_offboarding=(
                ScheduledOffboarding(
                    at=datetime.fromisoformat(scheduled["at"]), reason=scheduled["reason"]
                )
                if scheduled
                else None
            ),
            created_at=_when(raw.get("created_at")),
            updated_at=_when(raw.get("updated_at")),
            version=int(raw.get("sequence", 0)),
            unit_id=strawberry.ID(raw["unit_id"]),
            manager_id=raw.get("manager_id"),
            display_name=f"{raw['given_name']} {raw['family_name']}",
            raw_roles=raw.get("roles") or [],
            handles=raw.get("social_handles") or {},
            chain=raw.get("manager_chain") or [],
        )

    @strawberry.field
    def social_handles(self) -> list[SocialHandle]:
        return [SocialHandle(network=SocialNetwork(n), handle=h) for n, h in self.handles.items()]

    @strawberry.field(metadata={"list_size": 3})
    def roles(self) -> list[RoleGrant]:
        return [
            RoleGrant(role=Role(r["role"]), unit_id=strawberry.ID(r["unit"]))
            for r in self.raw_roles
        ]

    @strawberry.field(description="The org unit the employee belongs to.")
    def unit(self, info: Info) -> OrgUnit | None:
        return unit_of(info, self.unit_id)  # type: ignore[no-any-return]

    @strawberry.field(description="The direct manager, if any and if you may see them.")
    async def manager(self, info: Info) -> Employee | None:
        if not self.manager_id:
            return None
        return await load_employee(info, self.manager_id)

    @strawberry.field(
        description="Managers from the direct one upwards (those you may see).",
        metadata={"list_size": 5},
    )
    async def management_chain(self, info: Info) -> list[Employee]:
        found = [await load_employee(info, i) for i in self.chain]
        return [e for e in found if e is not None]

    @strawberry.field(
        description="People whose direct manager this is (those you may see; up to 100). "
        "One identity call for all the employees of a level.",
        metadata={"cost": 5, "list_size": 10},
    )
    async def direct_reports(self, info: Info) -> list[Employee] | None:
        try:
            found = await info.context.identity.direct_reports.load(self.id)
        except (BackendUnavailable, BackendProblem) as exc:
            raise unavailable_field(exc) from None
        return [Employee.of(e) for e in found]

    @strawberry.field(
        description="Their grants you may see (your own; or on accounts you own, administer "
        "or audit): one access call for all the employees of a level.",
        metadata={"cost": 2, "list_size": 5},
    )
    def grants(
        self, info: Info, active_only: bool = True
    ) -> list[Annotated[Grant, strawberry.lazy("gateway.access.types")]] | None:
        from gateway.access.types import grants_of_holder_soon

        return grants_of_holder_soon(info, self.id, active_only=active_only)  # type: ignore[no-any-return]


async def load_employee(info: Info, employee_id: str) -> Employee | None:
    try:
        raw = await info.context.identity.load(employee_id)
    except (BackendUnavailable, BackendProblem) as exc:
        raise unavailable_field(exc) from None
    return Employee.of(raw) if raw else None


@strawberry.type(description="A company, subsidiary or department.")
class OrgUnit:
    id: strawberry.ID
    name: str
    kind: UnitKind
    status: str = strawberry.field(description="open or closed")
    version: int
    parent_id: strawberry.ID | None

    @classmethod
    def of(cls, node: UnitNode) -> OrgUnit:
        return cls(
            id=strawberry.ID(node.id),
            name=node.name,
            kind=node.kind,
            status=node.status,
            version=node.version,
            parent_id=strawberry.ID(node.parent_id) if node.parent_id else None,
        )

    @strawberry.field
    async def parent(self, info: Info) -> OrgUnit | None:
        if not self.parent_id:
            return None
        tree = await tree_of(info)
        return OrgUnit.of(tree.get(self.parent_id)) if tree.exists(self.parent_id) else None

    @strawberry.field(description="Units directly below (open ones unless asked otherwise).")
    async def children(self, info: Info, include_closed: bool = False) -> list[OrgUnit]:
        tree = await tree_of(info)
        nodes = (
            [u for u in tree.units() if u.parent_id == self.id]
            if include_closed
            else tree.open_children(self.id)
        )
        return [OrgUnit.of(n) for n in sorted(nodes, key=lambda n: (n.name, n.id))]

    @strawberry.field(description="The ancestors, from the parent up to the company.")
    async def ancestors(self, info: Info) -> list[OrgUnit]:
        tree = await tree_of(info)
        return [OrgUnit.of(tree.get(u)) for u in tree.path(self.id)[1:] if tree.exists(u)]

    @strawberry.field(
        description="Staff of the unit and of the units below it (those you may see).",
        metadata={"cost": 10},
    )
    async def employees(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        status: EmploymentStatus | None = None,
        search: str | None = None,
    ) -> EmployeeConnectionResult:
        return await employee_page(
            info, first=first, after=after, unit_id=self.id, status=status, search=search
        )


@strawberry.type
class EmployeeEdge:
    cursor: str
    node: Employee


@strawberry.type(description="A page of employees (Relay connection, forward paging).")
class EmployeeConnection:
    edges: list[EmployeeEdge] = strawberry.field(metadata={"list_size": 1})
    page_info: PageInfo

    @strawberry.field(metadata={"list_size": 1})
    def nodes(self) -> list[Employee]:
        return [e.node for e in self.edges]


EmployeeConnectionResult = Annotated[
    EmployeeConnection | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("EmployeeConnectionResult"),
]


def employee_cursor(employee_id: str) -> str:
    """The cursor that continues after this employee: identity's keyset cursor (the last
    id seen, base64url), so any edge's cursor can be handed back as `after`."""
    return base64.urlsafe_b64encode(employee_id.encode()).decode().rstrip("=")


async def employee_page(
    info: Info,
    *,
    first: int,
    after: str | None,
    unit_id: str | None,
    status: Any,
    search: str | None,
    alone_on_its_level: bool = False,
) -> EmployeeConnection | ProblemResult:
    """A page of employees. `alone_on_its_level` (the root list): the rows' grants are
    fetched here, before the rows resolve; a page nested under several parents leaves them
    to the loader, which batches every parent's rows into one call."""
    if not 1 <= first <= MAX_PAGE:
        return invalid(
            f"first must be between 1 and {MAX_PAGE}", code="bad_page_size", path="first"
        )
    context = info.context
    if wants_units(info):
        context.identity.prefetch_tree()
    try:
        page = await context.services.identity.list_employees(
            context.bearer,
            limit=first,
            after=after,
            unit_id=unit_id,
            status=status.value if status is not None else None,
            q=search,
        )
    except (BackendUnavailable, BackendProblem) as exc:
        return from_backend(exc)
    items = page.get("items", [])
    context.identity.prime(items)
    wanted = grants_wanted_per_row(info) if alone_on_its_level else set()
    if wanted and items:
        await context.access.fetch_grants_of_page([e["id"] for e in items], wanted)
    edges = [EmployeeEdge(cursor=employee_cursor(e["id"]), node=Employee.of(e)) for e in items]
    return EmployeeConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.get("next_cursor") is not None,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


@strawberry.type
class AuditDetail:
    key: str
    value: str | None


@strawberry.type(description="One privileged action: who, what, on what, with what outcome.")
class AuditEntry:
    entry_id: strawberry.ID
    at: datetime
    actor: str = strawberry.field(description="a person id, `scim-client:<id>` or `system`")
    action: str
    target_type: str
    target_id: str
    unit_id: str | None
    outcome: str
    raw_details: strawberry.Private[dict[str, Any]]

    @classmethod
    def of(cls, raw: Json) -> AuditEntry:
        return cls(
            entry_id=strawberry.ID(raw["entry_id"]),
            at=datetime.fromisoformat(raw["at"]),
            actor=raw["actor"],
            action=raw["action"],
            target_type=raw["target_type"],
            target_id=raw["target_id"],
            unit_id=raw.get("unit_id"),
            outcome=raw.get("outcome", "succeeded"),
            raw_details=raw.get("details") or {},
        )

    @strawberry.field(metadata={"list_size": 5})
    def details(self) -> list[AuditDetail]:
        return [
            AuditDetail(key=k, value=None if v is None else str(v))
            for k, v in self.raw_details.items()
        ]

    @strawberry.field(description="The acting employee, when the actor is one you may see.")
    async def actor_employee(self, info: Info) -> Employee | None:
        if self.actor == "system" or ":" in self.actor:
            return None
        return await load_employee(info, self.actor)


@strawberry.type(description="A page of the audit log, newest first.")
class AuditLogPage:
    nodes: list[AuditEntry] = strawberry.field(metadata={"list_size": 1})
    page_info: PageInfo

    @classmethod
    def of(cls, page: Json, *, after: str | None) -> AuditLogPage:
        """A service's `/v1/audit` page (identity and access answer alike)."""
        next_cursor = page.get("next_cursor")
        return cls(
            nodes=[AuditEntry.of(e) for e in page.get("items", [])],
            page_info=PageInfo(
                has_next_page=next_cursor is not None,
                has_previous_page=after is not None,
                start_cursor=None,
                end_cursor=next_cursor,
            ),
        )


AuditLogResult = Annotated[
    AuditLogPage | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("AuditLogResult"),
]
EmployeeResult = Annotated[
    Employee | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("EmployeeResult"),
]
OrgUnitResult = Annotated[
    OrgUnit | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("OrgUnitResult"),
]
