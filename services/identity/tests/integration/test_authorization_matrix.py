"""Every identity endpoint × every role × a unit in scope and one out of scope.

The tree: company → sub-a → a-dept, and company → sub-b. Each caller holds one role over
sub-a (in scope for the target, who works in a-dept) or over sub-b (out of scope). A denied
call answers 403; an allowed one never does (it may still be a 409 for a state reason).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire

ROLES = list(Role)
SCOPES = {"in": "sub-a", "out": "sub-b"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    # (base url, fresh target employee id, counter) → request args
    request: Callable[[str, str, int], tuple[str, str, dict[str, object] | None]]
    allowed: Callable[[Role, bool], bool]  # (role, held over the target's subsidiary?)


def admin_in_scope(role: Role, in_scope: bool) -> bool:
    return role is Role.ADMIN and in_scope


def reader_in_scope(role: Role, in_scope: bool) -> bool:
    return role in (Role.ADMIN, Role.AUDITOR) and in_scope


def anyone(role: Role, in_scope: bool) -> bool:
    return True


def auditors_and_admins(role: Role, in_scope: bool) -> bool:
    return role in (Role.ADMIN, Role.AUDITOR)


def nobody_below_the_company(role: Role, in_scope: bool) -> bool:
    return False  # every caller here holds their role over a subsidiary, not the company


ENDPOINTS = [
    Endpoint(
        "read employee", lambda u, e, n: ("GET", f"{u}/v1/employees/{e}", None), reader_in_scope
    ),
    Endpoint(
        "hire",
        lambda u, e, n: (
            "POST",
            f"{u}/v1/employees",
            {
                "email": f"m{n}@example.com",
                "given_name": "M",
                "family_name": "M",
                "unit_id": "a-dept",
            },
        ),
        admin_in_scope,
    ),
    Endpoint(
        "update profile",
        lambda u, e, n: ("PATCH", f"{u}/v1/employees/{e}", {"title": f"T{n}"}),
        admin_in_scope,
    ),
    Endpoint(
        "suspend",
        lambda u, e, n: ("POST", f"{u}/v1/employees/{e}/suspend", {"reason": "r"}),
        admin_in_scope,
    ),
    Endpoint(
        "reinstate", lambda u, e, n: ("POST", f"{u}/v1/employees/{e}/reinstate", {}), admin_in_scope
    ),
    Endpoint(
        "move",
        lambda u, e, n: ("POST", f"{u}/v1/employees/{e}/move", {"unit_id": "sub-a"}),
        admin_in_scope,
    ),
    Endpoint(
        "change roles",
        lambda u, e, n: (
            "PUT",
            f"{u}/v1/employees/{e}/roles",
            {"roles": [{"role": "comms", "unit": "a-dept"}]},
        ),
        admin_in_scope,
    ),
    Endpoint(
        "offboard",
        lambda u, e, n: ("POST", f"{u}/v1/employees/{e}/offboard", {"reason": "r"}),
        admin_in_scope,
    ),
    Endpoint(
        "cancel scheduled offboarding",
        lambda u, e, n: ("DELETE", f"{u}/v1/employees/{e}/scheduled-offboarding", None),
        admin_in_scope,
    ),
    Endpoint(
        "rehire",
        lambda u, e, n: ("POST", f"{u}/v1/employees/{e}/rehire", {"unit_id": "a-dept"}),
        admin_in_scope,
    ),
    Endpoint(
        "create unit",
        lambda u, e, n: (
            "POST",
            f"{u}/v1/org-units",
            {"id": f"a-team-{n}", "name": "T", "kind": "department", "parent_id": "a-dept"},
        ),
        admin_in_scope,
    ),
    Endpoint(
        "rename unit",
        lambda u, e, n: ("PATCH", f"{u}/v1/org-units/a-dept", {"name": f"Dept {n}"}),
        admin_in_scope,
    ),
    Endpoint(
        "move unit",
        lambda u, e, n: ("POST", f"{u}/v1/org-units/a-dept/move", {"parent_id": "sub-a"}),
        admin_in_scope,
    ),
    Endpoint(
        "close unit",
        lambda u, e, n: ("POST", f"{u}/v1/org-units/a-dept/close", None),
        admin_in_scope,
    ),
    Endpoint("list units", lambda u, e, n: ("GET", f"{u}/v1/org-units", None), anyone),
    Endpoint("read unit", lambda u, e, n: ("GET", f"{u}/v1/org-units/a-dept", None), anyone),
    Endpoint("audit log", lambda u, e, n: ("GET", f"{u}/v1/audit", None), auditors_and_admins),
    # Sign-in and provisioning.
    Endpoint(
        "set password",
        lambda u, e, n: ("PUT", f"{u}/v1/employees/{e}/password", {"password": "x" * 16 + str(n)}),
        admin_in_scope,
    ),
    Endpoint(
        "create provisioning client",
        lambda u, e, n: (
            "POST",
            f"{u}/v1/provisioning-clients",
            {"name": f"c{n}", "unit_id": "a-dept"},
        ),
        admin_in_scope,
    ),
    # The staff programme: company-wide documents need an admin of the company itself.
    Endpoint(
        "publish policy",
        lambda u, e, n: ("POST", f"{u}/v1/policies", {"title": "P", "body_markdown": "b"}),
        nobody_below_the_company,
    ),
    Endpoint(
        "create training module",
        lambda u, e, n: (
            "POST",
            f"{u}/v1/training/modules",
            {"title": "T", "required_for_roles": ["comms"], "pass_score": 50},
        ),
        nobody_below_the_company,
    ),
    Endpoint(
        "unacknowledged in a unit",
        lambda u, e, n: ("GET", f"{u}/v1/policies/current/unacknowledged?unit_id=a-dept", None),
        reader_in_scope,
    ),
    Endpoint(
        "certification of an employee",
        lambda u, e, n: ("GET", f"{u}/v1/certifications/{e}", None),
        reader_in_scope,
    ),
    Endpoint(
        "create survey for a unit",
        lambda u, e, n: (
            "POST",
            f"{u}/v1/surveys",
            {
                "title": "S",
                "unit_id": "a-dept",
                "questions": [{"text": "Q", "choices": ["a", "b"]}],
            },
        ),
        admin_in_scope,
    ),
    Endpoint(
        "open nomination window for a unit",
        lambda u, e, n: (
            "POST",
            f"{u}/v1/nomination-windows",
            {"unit_id": "a-dept", "closes_at": "2099-01-01T00:00:00Z"},
        ),
        admin_in_scope,
    ),
]


@pytest.fixture
def world(ns):
    identity = ns.service("identity")
    identity.start()
    root = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, root, "sub-a", kind="subsidiary")
    create_unit(identity.url, root, "sub-b", kind="subsidiary")
    create_unit(identity.url, root, "a-dept", parent_id="sub-a")
    policy = {"title": "Social media policy", "body_markdown": "Be kind."}
    httpx.post(f"{identity.url}/v1/policies", json=policy, headers=bearer(root)).raise_for_status()
    return ns, identity, root


def test_every_endpoint_for_every_role_in_and_out_of_scope(world) -> None:
    ns, identity, root = world
    counter = itertools.count()
    failures = []
    for endpoint, role, (scope, unit) in itertools.product(ENDPOINTS, ROLES, SCOPES.items()):
        n = next(counter)
        target = hire(identity.url, root, f"t{n}", unit_id="a-dept").json()["id"]
        caller = ns.token(role, unit, sub=f"caller-{n}")
        method, url, body = endpoint.request(identity.url, target, n)
        response = httpx.request(method, url, json=body, headers=bearer(caller), timeout=10)
        status = response.status_code
        # Allowed: done, or refused for a state reason (409); never a 403, 4xx or 5xx.
        fine = (
            status < 300 or status == 409
            if endpoint.allowed(role, scope == "in")
            else status == 403
        )
        if not fine:
            failures.append(f"{endpoint.name} as {role.value}/{scope}: {status}")
    assert failures == []


def test_listing_and_batch_lookup_show_only_what_each_role_may_read(world) -> None:
    ns, identity, root = world
    target = hire(identity.url, root, "listed", unit_id="a-dept").json()["id"]
    for role, (scope, unit) in itertools.product(ROLES, SCOPES.items()):
        caller = bearer(ns.token(role, unit))
        listed = httpx.get(f"{identity.url}/v1/employees", params={"limit": 100}, headers=caller)
        batch = httpx.post(
            f"{identity.url}/v1/employees/batch-get", json={"ids": [target]}, headers=caller
        )
        visible = reader_in_scope(role, scope == "in")
        ids = {e["id"] for e in listed.json()["items"]}
        found = [e["id"] for e in batch.json()["employees"]]
        assert (target in ids) is visible, (role, scope)
        assert (found == [target]) is visible, (role, scope)
