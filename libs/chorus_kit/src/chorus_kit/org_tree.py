"""The org tree as both identity (which owns it) and other services (which mirror it) see it:
which units sit under which, so a role held over a unit covers that unit's whole subtree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar

from chorus_kit.errors import NotFound
from chorus_kit.events.identity import UnitKind


class OrgNode(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def parent_id(self) -> str | None: ...
    @property
    def kind(self) -> UnitKind: ...
    @property
    def is_open(self) -> bool: ...


UnitT = TypeVar("UnitT", bound=OrgNode)


class OrgTree(Generic[UnitT]):
    """A read-only snapshot of every unit, for subtree and ancestry questions."""

    def __init__(self, units: Iterable[UnitT]) -> None:
        self._units = {u.id: u for u in units}
        children: dict[str, list[str]] = {}
        for unit in self._units.values():
            if unit.parent_id is not None:
                children.setdefault(unit.parent_id, []).append(unit.id)
        self._children = children

    def exists(self, unit_id: str) -> bool:
        return unit_id in self._units

    def get(self, unit_id: str) -> UnitT:
        try:
            return self._units[unit_id]
        except KeyError:
            raise NotFound(f"no org unit {unit_id}", code="unit_not_found") from None

    def units(self) -> list[UnitT]:
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

    def open_children(self, unit_id: str) -> list[UnitT]:
        return [self._units[c] for c in self._children.get(unit_id, ()) if self._units[c].is_open]

    def nearest(self, unit_id: str, kind: UnitKind) -> UnitT | None:
        """The closest unit of `kind` at or above `unit_id` (its subsidiary, its department)."""
        for ancestor in self.path(unit_id):
            unit = self._units.get(ancestor)
            if unit is not None and unit.kind is kind:
                return unit
        return None
