"""The org tree: a company, its subsidiaries, their departments, and the rules for changing it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pydantic import BaseModel

from chorus_kit.errors import ChorusError, Conflict
from chorus_kit.events import Event, new_event
from chorus_kit.events.identity import (
    OrgUnitClosed,
    OrgUnitCreated,
    OrgUnitMoved,
    OrgUnitRenamed,
    UnitKind,
)
from chorus_kit.org_tree import OrgTree as GenericOrgTree

__all__ = ["OrgTree", "OrgUnit", "close_unit", "create_unit", "move_unit", "rename_unit"]

SOURCE = "/chorus/identity"
OPEN = "open"
CLOSED = "closed"

# Which kind of unit may sit under which: departments nest, subsidiaries hang off the company
# (or another subsidiary), and nothing sits above the company.
ALLOWED_PARENTS: Mapping[UnitKind, frozenset[UnitKind]] = {
    UnitKind.COMPANY: frozenset(),
    UnitKind.SUBSIDIARY: frozenset({UnitKind.COMPANY, UnitKind.SUBSIDIARY}),
    UnitKind.DEPARTMENT: frozenset({UnitKind.COMPANY, UnitKind.SUBSIDIARY, UnitKind.DEPARTMENT}),
}
UNIT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class OrgUnit:
    id: str
    name: str
    kind: UnitKind
    parent_id: str | None
    status: str = OPEN
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())

    @property
    def is_open(self) -> bool:
        return self.status == OPEN


OrgTree = GenericOrgTree[OrgUnit]


def _snapshot(unit: OrgUnit, tree: OrgTree | None) -> dict[str, object]:
    path = tree.path(unit.id) if tree else (unit.id,)
    return {
        "unit_id": unit.id,
        "name": unit.name,
        "kind": unit.kind,
        "parent_id": unit.parent_id,
        "path": list(path),
        "status": unit.status,
    }


def _raising(before: OrgUnit, after: OrgUnit, *raised: tuple[str, BaseModel]) -> OrgUnit:
    sequence = before.sequence
    events = []
    for type_name, data in raised:
        sequence += 1
        events.append(
            new_event(type_name, source=SOURCE, subject=before.id, sequence=sequence, data=data)
        )
    return replace(after, sequence=sequence, pending_events=tuple(events))


def _require_parent(tree: OrgTree, kind: UnitKind, parent_id: str | None) -> None:
    if kind is UnitKind.COMPANY:
        if parent_id is not None:
            raise ChorusError("the company is the root of the tree", code="company_has_no_parent")
        return
    if parent_id is None:
        raise ChorusError("a subsidiary or department needs a parent", code="parent_required")
    parent = tree.get(parent_id)
    if not parent.is_open:
        raise Conflict(f"org unit {parent_id} is closed", code="unit_closed")
    if parent.kind not in ALLOWED_PARENTS[kind]:
        raise ChorusError(
            f"a {kind.value} cannot sit under a {parent.kind.value}", code="invalid_parent"
        )


def create_unit(
    tree: OrgTree, *, name: str, kind: UnitKind, parent_id: str | None, unit_id: str | None = None
) -> OrgUnit:
    unit_id = unit_id or str(uuid.uuid4())
    if not UNIT_ID.match(unit_id):
        raise ChorusError("unit ids are lower-case letters, digits and dashes", code="bad_unit_id")
    if tree.exists(unit_id):
        raise Conflict(f"org unit {unit_id} exists already", code="unit_exists")
    _require_parent(tree, kind, parent_id)
    unit = OrgUnit(id=unit_id, name=name, kind=kind, parent_id=parent_id)
    grown = OrgTree([*tree.units(), unit])
    created = OrgUnitCreated.model_validate(_snapshot(unit, grown))
    return _raising(unit, unit, ("chorus.identity.org_unit.created", created))


def rename_unit(unit: OrgUnit, tree: OrgTree, *, name: str) -> OrgUnit:
    if name == unit.name:
        raise Conflict("the unit already has this name", code="nothing_to_change")
    renamed = replace(unit, name=name)
    data = OrgUnitRenamed.model_validate({**_snapshot(renamed, tree), "previous_name": unit.name})
    return _raising(unit, renamed, ("chorus.identity.org_unit.renamed", data))


def move_unit(unit: OrgUnit, tree: OrgTree, *, parent_id: str) -> OrgUnit:
    """A new parent for the unit and its subtree; never under itself (no cycles)."""
    if not unit.is_open:
        raise Conflict(f"org unit {unit.id} is closed", code="unit_closed")
    if parent_id == unit.parent_id:
        raise Conflict("the unit is already there", code="nothing_to_change")
    if parent_id in tree.subtree(unit.id):
        raise Conflict("a unit cannot move under itself", code="unit_cycle")
    _require_parent(tree, unit.kind, parent_id)
    moved = replace(unit, parent_id=parent_id)
    after = OrgTree([u if u.id != unit.id else moved for u in tree.units()])
    data = OrgUnitMoved.model_validate(
        {**_snapshot(moved, after), "previous_parent_id": unit.parent_id}
    )
    return _raising(unit, moved, ("chorus.identity.org_unit.moved", data))


def close_unit(unit: OrgUnit, tree: OrgTree, *, staff_count: int) -> OrgUnit:
    """Closing needs an empty unit: staff and open children move elsewhere first."""
    if not unit.is_open:
        raise Conflict(f"org unit {unit.id} is closed already", code="unit_closed")
    if unit.kind is UnitKind.COMPANY:
        raise Conflict("the company cannot be closed", code="company_cannot_close")
    if staff_count or tree.open_children(unit.id):
        raise Conflict("the unit still has staff or open units", code="unit_not_empty")
    closed = replace(unit, status=CLOSED)
    data = OrgUnitClosed.model_validate(_snapshot(closed, tree))
    return _raising(unit, closed, ("chorus.identity.org_unit.closed", data))
