"""Who hears of access's live events: the gateway's rules mirror access's own."""

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


def test_a_grant_notice_reaches_its_holder_owners_and_admins_over_the_unit() -> None:
    notice = {"holder_id": "holder", "owners": ["owner"], "unit_path": PATH_IN_A}
    assert permissions.may_see_grant_notice(principal("holder"), **notice)
    assert permissions.may_see_grant_notice(principal("owner"), **notice)
    assert permissions.may_see_grant_notice(principal("x", (Role.ADMIN, "sub-a")), **notice)
    assert not permissions.may_see_grant_notice(principal("x", (Role.ADMIN, "sub-b")), **notice)
    # An auditor audits; it is not theirs to act on.
    assert not permissions.may_see_grant_notice(principal("x", (Role.AUDITOR, "company")), **notice)
    assert not permissions.may_see_grant_notice(principal("someone"), **notice)


def test_a_request_reaches_its_deciders_but_never_its_requester() -> None:
    deciders = ["o1", "o2"]
    assert permissions.may_decide_request(principal("o1"), requester_id="r", deciders=deciders)
    assert not permissions.may_decide_request(principal("o3"), requester_id="r", deciders=deciders)
    assert not permissions.may_decide_request(principal("o1"), requester_id="o1", deciders=deciders)
    # An admin decides nothing they do not own.
    admin = principal("a", (Role.ADMIN, "company"))
    assert not permissions.may_decide_request(admin, requester_id="r", deciders=deciders)


def test_a_coverage_alert_reaches_owners_and_admins_over_the_unit() -> None:
    alert = {"owners": ["owner"], "unit_path": PATH_IN_A}
    assert permissions.may_see_coverage_alert(principal("owner"), **alert)
    assert permissions.may_see_coverage_alert(principal("x", (Role.ADMIN, "company")), **alert)
    assert not permissions.may_see_coverage_alert(principal("x", (Role.ADMIN, "sub-b")), **alert)
    assert not permissions.may_see_coverage_alert(principal("x", (Role.EMPLOYEE, "sub-a")), **alert)
