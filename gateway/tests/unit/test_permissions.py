"""The gateway's own rules mirror identity's: a role over a unit covers its subtree."""

from __future__ import annotations

from datetime import UTC, datetime

from chorus_kit.auth import Principal
from chorus_kit.events.identity import Role, RoleAssignment
from gateway import permissions


def principal(sub: str, *roles: tuple[Role, str]) -> Principal:
    return Principal(
        sub=sub,
        roles=tuple(RoleAssignment(role=r, unit=u) for r, u in roles),
        issued_at=datetime.now(UTC),
        token_id="t",
    )


PATH_IN_A = ("dept-a1", "sub-a", "company")
PATH_IN_B = ("dept-b1", "sub-b", "company")


def test_a_unit_admin_reads_their_subtree_only() -> None:
    admin_a = principal("x", (Role.ADMIN, "sub-a"))
    assert permissions.may_read_employee(admin_a, employee_id="e1", unit_path=PATH_IN_A)
    assert not permissions.may_read_employee(admin_a, employee_id="e2", unit_path=PATH_IN_B)


def test_people_read_themselves_and_comms_reads_nobody_else() -> None:
    comms = principal("me", (Role.COMMS, "company"))
    assert permissions.may_read_employee(comms, employee_id="me", unit_path=PATH_IN_B)
    assert not permissions.may_read_employee(comms, employee_id="you", unit_path=PATH_IN_B)


def test_offboardings_go_to_admins_and_auditors_over_the_leaver() -> None:
    auditor = principal("a", (Role.AUDITOR, "sub-b"))
    assert permissions.may_see_offboarding(auditor, unit_path=PATH_IN_B)
    assert not permissions.may_see_offboarding(auditor, unit_path=PATH_IN_A)
    employee = principal("e", (Role.EMPLOYEE, "company"))
    assert not permissions.may_see_offboarding(employee, unit_path=PATH_IN_A)


def test_a_mover_is_shown_to_both_units() -> None:
    admin_b = principal("x", (Role.ADMIN, "sub-b"))
    assert permissions.may_see_employee_change(
        admin_b, employee_id="m", unit_paths=[PATH_IN_A, PATH_IN_B]
    )
    assert not permissions.may_see_employee_change(admin_b, employee_id="m", unit_paths=[PATH_IN_A])


def test_audit_log_needs_auditor_or_admin() -> None:
    assert permissions.may_read_audit_log(principal("a", (Role.AUDITOR, "sub-a")))
    assert not permissions.may_read_audit_log(principal("c", (Role.COMMS, "company")))
