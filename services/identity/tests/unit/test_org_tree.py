"""The org tree's rules: what may sit under what, no cycles, subtree-scoped roles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict
from chorus_kit.events.identity import Role, RoleAssignment, UnitKind
from identity.domain import org_units
from identity.domain.authorization import holds_over, readable_units
from identity.domain.org_units import OrgTree, OrgUnit


def unit(unit_id: str, kind: UnitKind, parent: str | None) -> OrgUnit:
    return OrgUnit(id=unit_id, name=unit_id.upper(), kind=kind, parent_id=parent)


TREE = OrgTree(
    [
        unit("company", UnitKind.COMPANY, None),
        unit("sub-a", UnitKind.SUBSIDIARY, "company"),
        unit("sub-b", UnitKind.SUBSIDIARY, "company"),
        unit("a-sales", UnitKind.DEPARTMENT, "sub-a"),
        unit("a-sales-emea", UnitKind.DEPARTMENT, "a-sales"),
        unit("b-comms", UnitKind.DEPARTMENT, "sub-b"),
    ]
)


def holder(role: Role, unit_id: str) -> Principal:
    return Principal(
        sub="p",
        roles=(RoleAssignment(role=role, unit=unit_id),),
        issued_at=datetime.now(UTC),
        token_id="t",
    )


def test_paths_and_subtrees() -> None:
    assert TREE.path("a-sales-emea") == ("a-sales-emea", "a-sales", "sub-a", "company")
    assert TREE.subtree("sub-a") == {"sub-a", "a-sales", "a-sales-emea"}
    assert TREE.nearest("a-sales-emea", UnitKind.SUBSIDIARY) == TREE.get("sub-a")


def test_a_role_covers_its_subtree_and_nothing_beside_it() -> None:
    comms_a = holder(Role.COMMS, "sub-a")
    assert holds_over(comms_a, [Role.COMMS], "a-sales-emea", TREE)
    assert not holds_over(comms_a, [Role.COMMS], "b-comms", TREE)
    assert not holds_over(comms_a, [Role.COMMS], "company", TREE)
    assert readable_units(holder(Role.AUDITOR, "sub-a"), TREE) == TREE.subtree("sub-a")
    assert readable_units(holder(Role.AUDITOR, "company"), TREE) is None
    assert readable_units(holder(Role.COMMS, "company"), TREE) == set()


def test_units_sit_only_where_their_kind_allows() -> None:
    with pytest.raises(ChorusError) as refused:
        org_units.create_unit(TREE, name="X", kind=UnitKind.SUBSIDIARY, parent_id="a-sales")
    assert refused.value.code == "invalid_parent"
    with pytest.raises(ChorusError):
        org_units.create_unit(TREE, name="Y", kind=UnitKind.DEPARTMENT, parent_id=None)
    created = org_units.create_unit(
        TREE, name="Ops", kind=UnitKind.DEPARTMENT, parent_id="sub-b", unit_id="b-ops"
    )
    assert [e.type for e in created.pending_events] == ["chorus.identity.org_unit.created"]
    assert created.pending_events[0].data["path"] == ["b-ops", "sub-b", "company"]


def test_a_unit_never_moves_under_itself() -> None:
    with pytest.raises(Conflict) as refused:
        org_units.move_unit(TREE.get("a-sales"), TREE, parent_id="a-sales-emea")
    assert refused.value.code == "unit_cycle"
    moved = org_units.move_unit(TREE.get("a-sales"), TREE, parent_id="sub-b")
    assert moved.pending_events[0].data["path"] == ["a-sales", "sub-b", "company"]
    assert moved.pending_events[0].data["previous_parent_id"] == "sub-a"


def test_only_empty_units_close() -> None:
    with pytest.raises(Conflict):
        org_units.close_unit(TREE.get("a-sales"), TREE, staff_count=0)  # open child
    with pytest.raises(Conflict):
        org_units.close_unit(TREE.get("b-comms"), TREE, staff_count=2)
    closed = org_units.close_unit(TREE.get("b-comms"), TREE, staff_count=0)
    assert closed.status == org_units.CLOSED
