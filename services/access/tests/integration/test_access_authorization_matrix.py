"""Every access endpoint × every org role × in and out of scope; then the account roles.

The tree: company → sub-a (account A) and company → sub-b (account B). Each org-role caller
is active staff holding one role over sub-a (in scope for A) or over sub-b (out of scope).
A denied call answers 403; an allowed one never does (it may be a 409 for a state reason).
Lists and batch lookups always answer 200: what they show is checked separately.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chorus_kit.events.identity import Role

ROLES = list(Role)
SCOPES = {"in": "sub-a", "out": "sub-b"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    # (ids of the world, call counter) -> (method, path, json body, query)
    request: Callable[[dict[str, str], int], tuple[str, str, Any, dict[str, str] | None]]
    allowed: Callable[[Role, bool], bool]  # (role, held over sub-a?)


def admin_in(role: Role, in_scope: bool) -> bool:
    return role is Role.ADMIN and in_scope


def reader_in(role: Role, in_scope: bool) -> bool:
    return role in (Role.ADMIN, Role.AUDITOR) and in_scope


def any_role_in(role: Role, in_scope: bool) -> bool:
    return in_scope


def readers_anywhere(role: Role, in_scope: bool) -> bool:
    return role in (Role.ADMIN, Role.AUDITOR)


def nobody(role: Role, in_scope: bool) -> bool:
    return False  # only owners of the account (none of these callers) may


ENDPOINTS = [
    Endpoint(
        "register account",
        lambda w, n: (
            "POST",
            "/v1/accounts",
            {
                "network": "instagram",
                "handle": f"matrix{n}",
                "unit_id": "sub-a",
                "classification": "brand",
                "owners": [w["o1"], w["o2"]],
            },
            None,
        ),
        admin_in,
    ),
    Endpoint(
        "read account", lambda w, n: ("GET", f"/v1/accounts/{w['A']}", None, None), any_role_in
    ),
    Endpoint(
        "update account",
        lambda w, n: ("PATCH", f"/v1/accounts/{w['A']}", {"purpose": f"p{n}"}, None),
        admin_in,
    ),
    Endpoint(
        "add owner",
        lambda w, n: ("POST", f"/v1/accounts/{w['A']}/owners", {"person_id": w["o3"]}, None),
        admin_in,
    ),
    Endpoint(
        "remove owner",
        lambda w, n: ("DELETE", f"/v1/accounts/{w['A']}/owners/{w['o3']}", None, None),
        admin_in,
    ),
    Endpoint(
        "request access",
        lambda w, n: (
            "POST",
            "/v1/access-requests",
            {"account_id": w["A"], "role": "viewer", "justification": "j"},
            None,
        ),
        any_role_in,
    ),
    Endpoint(
        "read request",
        lambda w, n: ("GET", f"/v1/access-requests/{w['request']}", None, None),
        reader_in,
    ),
    Endpoint(
        "approve request",
        lambda w, n: ("POST", f"/v1/access-requests/{w['request']}/approve", None, None),
        nobody,
    ),
    Endpoint(
        "deny request",
        lambda w, n: ("POST", f"/v1/access-requests/{w['request']}/deny", None, None),
        nobody,
    ),
    Endpoint("read grant", lambda w, n: ("GET", f"/v1/grants/{w['grant']}", None, None), reader_in),
    Endpoint(
        "revoke grant",
        lambda w, n: ("POST", f"/v1/grants/{w['grant']}/revoke", {"reason": "r"}, None),
        admin_in,
    ),
    Endpoint(
        "access report of sub-a",
        lambda w, n: ("GET", "/v1/reports/access", None, {"unit_id": "sub-a"}),
        reader_in,
    ),
    Endpoint(
        "access report csv of sub-a",
        lambda w, n: ("GET", "/v1/reports/access.csv", None, {"unit_id": "sub-a"}),
        reader_in,
    ),
    Endpoint(
        "access report", lambda w, n: ("GET", "/v1/reports/access", None, None), readers_anywhere
    ),
    Endpoint(
        "former staff",
        lambda w, n: ("GET", "/v1/reports/former-staff-with-access", None, None),
        readers_anywhere,
    ),
    Endpoint("audit log", lambda w, n: ("GET", "/v1/audit", None, None), readers_anywhere),
    Endpoint(
        "employment view",
        lambda w, n: ("GET", f"/v1/employment/{w['o1']}", None, None),
        reader_in,
    ),
]


async def _world(company) -> dict[str, str]:
    await company.units(("sub-a", "subsidiary", "company"), ("sub-b", "subsidiary", "company"))
    await company.hire(
        ("o1", "sub-a"),
        ("o2", "sub-a"),
        ("o3", "sub-a"),
        ("b1", "sub-b"),
        ("b2", "sub-b"),
        ("pub", "company"),
        ("pub-b", "company"),
        ("asker", "company"),
        ("stranger", "sub-a"),
    )
    world = {name: company.staff[name] for name in company.staff}
    world["A"] = company.register("matrix_a", "sub-a", ["o1", "o2"])["id"]
    world["B"] = company.register("matrix_b", "sub-b", ["b1", "b2"])["id"]
    world["grant"] = company.grant(world["A"], "pub", "publisher", "o1")["id"]
    world["grant_b"] = company.grant(world["B"], "pub-b", "publisher", "b1")["id"]
    asked = company.call(
        "POST",
        "/v1/access-requests",
        company.token("asker"),
        json_body={"account_id": world["A"], "role": "viewer", "justification": "j"},
    )
    assert asked.status_code == 201, asked.text
    world["request"] = asked.json()["id"]
    return world


async def test_every_endpoint_for_every_org_role_in_and_out_of_scope(company) -> None:
    world = await _world(company)
    callers = [(role, scope) for role, scope in itertools.product(ROLES, SCOPES)]
    ids = await company.hire(*((f"{r.value}-{s}", "company") for r, s in callers))
    tokens = {
        (role, scope): company.token(person, (role, SCOPES[scope]))
        for (role, scope), person in zip(callers, ids, strict=True)
    }
    counter = itertools.count()
    failures = []
    for endpoint, (role, scope) in itertools.product(ENDPOINTS, callers):
        n = next(counter)
        method, path, body, query = endpoint.request(world, n)
        status = company.call(
            method, path, tokens[(role, scope)], json_body=body, params=query
        ).status_code
        fine = (
            status < 300 or status == 409
            if endpoint.allowed(role, scope == "in")
            else status == 403
        )
        if not fine:
            failures.append(f"{endpoint.name} as {role.value}/{scope}: {status}")
    assert failures == []

    # Lists and batch lookups show, per role, what that role may see.
    for role, scope in callers:
        token = tokens[(role, scope)]
        sees_a = scope == "in"
        sees_a_grants = reader_in(role, scope == "in")
        accounts = company.call(
            "POST", "/v1/accounts/batch-get", token, json_body={"ids": [world["A"], world["B"]]}
        ).json()
        # Any role over a unit shows its accounts' register entries (to ask for access).
        assert [a["id"] for a in accounts["accounts"]] == [world["A"] if sees_a else world["B"]]
        listed = company.call("GET", "/v1/accounts", token).json()["items"]
        assert (world["A"] in {a["id"] for a in listed}) is sees_a
        by_account = company.call(
            "POST", "/v1/grants/by-accounts", token, json_body={"account_ids": [world["A"]]}
        ).json()["groups"][0]["grants"]
        assert bool(by_account) is sees_a_grants, (role, scope)
        holders = company.call(
            "POST", "/v1/grants/by-holders", token, json_body={"holder_ids": [world["pub-b"]]}
        ).json()["groups"][0]["grants"]
        # pub-b's grant is on B: only admins and auditors over sub-b see it.
        assert bool(holders) is reader_in(role, scope == "out"), (role, scope)
        requests = company.call("GET", "/v1/access-requests", token).json()["items"]
        assert (world["request"] in {r["id"] for r in requests}) is sees_a_grants


async def test_account_roles_owners_publishers_and_requesters(company) -> None:
    world = await _world(company)
    owner, publisher, stranger, asker = (
        company.token(name, (Role.EMPLOYEE, "sub-a")) for name in ("o1", "pub", "stranger", "asker")
    )

    def status(method: str, path: str, token: str, body: Any = None) -> int:
        return company.call(method, path, token, json_body=body).status_code

    # Nobody approves their own request; only the account's owners decide.
    assert status("POST", f"/v1/access-requests/{world['request']}/approve", asker) == 403
    assert status("POST", f"/v1/access-requests/{world['request']}/approve", publisher) == 403
    assert status("POST", f"/v1/access-requests/{world['request']}/deny", stranger) == 403
    assert status("GET", f"/v1/access-requests/{world['request']}", asker) == 200
    assert status("GET", f"/v1/access-requests/{world['request']}", owner) == 200
    assert status("GET", f"/v1/access-requests/{world['request']}", publisher) == 403

    # A publisher of A reads their own grant, not A's others and nothing of B.
    assert status("GET", f"/v1/grants/{world['grant']}", publisher) == 200
    assert status("GET", f"/v1/grants/{world['grant_b']}", publisher) == 403
    of_b = company.call(
        "POST", "/v1/grants/by-accounts", publisher, json_body={"account_ids": [world["B"]]}
    ).json()
    assert of_b["groups"] == [{"account_id": world["B"], "grants": []}]
    of_a = company.call(
        "POST", "/v1/grants/by-accounts", publisher, json_body={"account_ids": [world["A"]]}
    ).json()["groups"][0]["grants"]
    assert [g["id"] for g in of_a] == [world["grant"]]
    listed_b = company.call("GET", "/v1/grants", publisher, params={"account_id": world["B"]})
    assert listed_b.json()["items"] == []
    # The owner sees every grant of A, none of B.
    of_a_owner = company.call(
        "POST", "/v1/grants/by-accounts", owner, json_body={"account_ids": [world["A"], world["B"]]}
    ).json()["groups"]
    assert len(of_a_owner[0]["grants"]) == 3 and of_a_owner[1]["grants"] == []
    assert status("GET", f"/v1/grants/{world['grant_b']}", owner) == 403

    # Owners add owners; only admins remove them; a publisher does neither.
    assert (
        status("POST", f"/v1/accounts/{world['A']}/owners", publisher, {"person_id": world["o3"]})
        == 403
    )
    assert (
        status("POST", f"/v1/accounts/{world['A']}/owners", owner, {"person_id": world["o3"]})
        == 200
    )
    assert status("DELETE", f"/v1/accounts/{world['A']}/owners/{world['o3']}", owner) == 403
    # Owners revoke; a stranger does not; a holder may give up their own grant.
    assert status("POST", f"/v1/grants/{world['grant']}/revoke", stranger, {"reason": "r"}) == 403
    assert status("POST", f"/v1/grants/{world['grant_b']}/revoke", owner, {"reason": "r"}) == 403
    assert (
        status("POST", f"/v1/grants/{world['grant']}/revoke", publisher, {"reason": "done"}) == 200
    )
    # Ownership is removed by an admin, not revoked by a fellow owner.
    o2_grant = next(
        g["id"]
        for g in of_a_owner[0]["grants"]
        if g["holder_id"] == world["o2"] and g["role"] == "owner"
    )
    assert status("POST", f"/v1/grants/{o2_grant}/revoke", owner, {"reason": "r"}) == 403
    admin_a = company.token("admin-a", (Role.ADMIN, "sub-a"))
    revoked = company.call(
        "POST", f"/v1/grants/{o2_grant}/revoke", admin_a, json_body={"reason": "r"}
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    after = company.call("GET", f"/v1/accounts/{world['A']}", owner).json()
    assert world["o2"] not in after["owners"]
