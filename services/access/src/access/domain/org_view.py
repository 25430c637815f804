"""Access's mirror of identity's org tree, fed by `chorus.identity.org_unit.v1` events.

Roles are held over a unit and cover its subtree; access answers "does this role cover the
account's unit" from this mirror, never by asking identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chorus_kit.events import Event
from chorus_kit.events.catalogue import (
    ORG_UNIT_CLOSED,
    ORG_UNIT_CREATED,
    ORG_UNIT_MOVED,
    ORG_UNIT_RENAMED,
    event_type,
)
from chorus_kit.events.identity import OrgUnitSnapshot, UnitKind
from chorus_kit.org_tree import OrgTree

OPEN = "open"
ORG_UNIT_EVENT_TYPES = (
    ORG_UNIT_CREATED.type,
    ORG_UNIT_RENAMED.type,
    ORG_UNIT_MOVED.type,
    ORG_UNIT_CLOSED.type,
)


@dataclass(frozen=True)
class MirroredUnit:
    id: str
    parent_id: str | None
    kind: UnitKind
    status: str = OPEN
    name: str = ""

    @property
    def is_open(self) -> bool:
        return self.status == OPEN


def view_update(event: Event) -> dict[str, Any]:
    """Every org-unit event carries the whole unit: the view takes it as it is."""
    unit = event.data_as(event_type(event.type).data_model)
    assert isinstance(unit, OrgUnitSnapshot)
    return {
        "$set": {
            "name": unit.name,
            "kind": unit.kind.value,
            "parent_id": unit.parent_id,
            "path": unit.path,
            "status": unit.status,
        }
    }


class UnitTree:
    """The mirrored tree, with the company root always present.

    Every unit sits under the root, so a unit access has not heard of yet (its event still
    on the way) is covered by roles held over the root and by nothing else.
    """

    def __init__(self, units: Iterable[MirroredUnit], *, root_id: str) -> None:
        known = {u.id: u for u in units}
        known.setdefault(root_id, MirroredUnit(id=root_id, parent_id=None, kind=UnitKind.COMPANY))
        self._tree = OrgTree(known.values())
        self.root_id = root_id

    def exists(self, unit_id: str) -> bool:
        return self._tree.exists(unit_id)

    def is_open(self, unit_id: str) -> bool:
        return self._tree.exists(unit_id) and self._tree.get(unit_id).is_open

    def path(self, unit_id: str) -> tuple[str, ...]:
        """The unit, then its ancestors up to the root."""
        path = self._tree.path(unit_id)
        return path if path[-1] == self.root_id else (*path, self.root_id)

    def subtree(self, unit_id: str) -> set[str]:
        return self._tree.subtree(unit_id)

    def covers(self, ancestor_id: str, unit_id: str) -> bool:
        """True if `unit_id` is `ancestor_id` or lies below it."""
        return ancestor_id in self.path(unit_id)
