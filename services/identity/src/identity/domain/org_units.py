"""The org tree: a company, its subsidiaries, their departments, and the rules for changing it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from pydantic import BaseModel

from chorus_kit.errors import ChorusError, Conflict, NotFound
from chorus_kit.events import Event, new_event
from chorus_kit.events.identity import (
    OrgUnitClosed,
    OrgUnitCreated,
    OrgUnitMoved,
    OrgUnitRenamed,
    UnitKind,
)

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


class OrgTree:
    """A read-only snapshot of every unit, for subtree and ancestry questions."""

    def __init__(self, units: Iterable[OrgUnit]) -> None:
        self._units = {u.id: u for u in units}
        children: dict[str, list[str]] = {}
        for unit in self._units.values():
            if unit.parent_id is not None:
                children.setdefault(unit.parent_id, []).append(unit.id)
        self._children = children

    def exists(self, unit_id: str) -> bool:
        return unit_id in self._units

    def get(self, unit_id: str) -> OrgUnit:
        try:
            return self._units[unit_id]
        except KeyError:
            raise NotFound(f"no org unit {unit_id}", code="unit_not_found") from None

    def units(self) -> list[OrgUnit]:
        return list(self._units.values())

    def path(self, unit_id: str) -> tuple[str, ...]:
        """The unit, then its ancestors up to the root (an unknown unit is its own path)."""
        path: list[str] = []
        current: str | None = unit_id
        while current is not None and current not in path:
            path.append(current)
            unit = self._units.get(current)
            current = unit.parent_id if unit else None
        return tuple(path)

    def subtree(self, unit_id: str) -> set[str]:
        """The unit and every unit below it."""
        found = {unit_id}
        stack = [unit_id]
        while stack:
            for child in self._children.get(stack.pop(), ()):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found

    def open_children(self, unit_id: str) -> list[OrgUnit]:
        return [self._units[c] for c in self._children.get(unit_id, ()) if self._units[c].is_open]

    def nearest(self, unit_id: str, kind: UnitKind) -> OrgUnit | None:
        """The closest unit of `kind` at or above `unit_id` (its subsidiary, its department)."""
        for ancestor in self.path(unit_id):
            unit = self._units.get(ancestor)
            if unit is not None and unit.kind is kind:
                return unit
        return None


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
