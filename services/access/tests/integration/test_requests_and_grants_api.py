"""Requests, decisions, grants and revocations against the real service, through Kafka."""

from __future__ import annotations

from collections import Counter

from chorus_kit.events.catalogue import GRANT
from chorus_kit.events.identity import Role
from tests.support.polling import eventually


async def test_request_decide_grant_revoke(company) -> None:
    await company.units(("sub-a", "subsidiary", "company"))
    o1, o2, pub, view, late = await company.hire(
        ("o1", "sub-a"), ("o2", "sub-a"), ("pub", "sub-a"), ("view", "company"), ("late", "sub-a")
    )
    account = company.register("brand_a", "sub-a", ["o1", "o2"], classification="executive")
    account_id = account["id"]

    # The requester is the caller; the deciders are the other owners.
    asked = company.call(
        "POST",
        "/v1/access-requests",
        company.token("pub"),
        json_body={
            "account_id": account_id,
            "role": "publisher",
            "justification": "product launch",
            "duration_days": 7,
        },
    )
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["requester_id"] == pub and sorted(request["deciders"]) == sorted([o1, o2])
    assert request["status"] == "pending" and request["duration_seconds"] == 7 * 86_400
    twice = company.call(
        "POST",
        "/v1/access-requests",
        company.token("pub"),
        json_body={"account_id": account_id, "role": "publisher", "justification": "again"},
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "request_pending")
    too_long = company.call(
        "POST",
        "/v1/access-requests",
        company.token("view"),
        json_body={
            "account_id": account_id,
            "role": "viewer",
            "justification": "j",
            "duration_days": 31,  # executive accounts: 30 days at most
        },
    )
    assert (too_long.status_code, too_long.json()["code"]) == (400, "duration_exceeds_policy")
    # An owner asking for anything holds it already.
    owner_asks = company.call(
        "POST",
        "/v1/access-requests",
        company.token("o1"),
        json_body={"account_id": account_id, "role": "viewer", "justification": "j"},
    )
    assert (owner_asks.status_code, owner_asks.json()["code"]) == (409, "already_holds")

    # Only an owner decides; the requester never does.
    own = company.call("POST", f"/v1/access-requests/{request['id']}/approve", company.token("pub"))
    assert (own.status_code, own.json()["code"]) == (403, "own_request")
    admin = company.call(
        "POST",
        f"/v1/access-requests/{request['id']}/approve",
        company.token("admin", (Role.ADMIN, "company")),
    )
    assert (admin.status_code, admin.json()["code"]) == (403, "not_decider")
    approved = company.call(
        "POST",
        f"/v1/access-requests/{request['id']}/approve",
        company.token("o1"),
        json_body={"reason": "ok"},
    )
    assert approved.status_code == 200, approved.text
    decision = approved.json()
    grant = decision["grant"]
    assert decision["request"]["status"] == "approved" and decision["request"]["decided_by"] == o1
    assert grant["holder_id"] == pub and grant["role"] == "publisher" and grant["active"]
    assert grant["id"] == decision["request"]["grant_id"]
    assert grant["expires_at"] is not None and grant["revoked_at"] is None
    again = company.call("POST", f"/v1/access-requests/{request['id']}/deny", company.token("o2"))
    assert (again.status_code, again.json()["code"]) == (409, "already_decided")

    # A denial; then a request whose requester becomes an owner meanwhile: still not theirs
    # to approve.
    denied_request = company.call(
        "POST",
        "/v1/access-requests",
        company.token("view"),
        json_body={"account_id": account_id, "role": "viewer", "justification": "j"},
    ).json()
    denied = company.call(
        "POST", f"/v1/access-requests/{denied_request['id']}/deny", company.token("o2")
    )
    assert denied.status_code == 200 and denied.json()["request"]["status"] == "denied"
    late_request = company.call(
        "POST",
        "/v1/access-requests",
        company.token("late"),
        json_body={"account_id": account_id, "role": "viewer", "justification": "j"},
    ).json()
    assert (
        company.call(
            "POST",
            f"/v1/accounts/{account_id}/owners",
            company.token("o1"),
            json_body={"person_id": late},
        ).status_code
        == 200
    )
    own_again = company.call(
        "POST", f"/v1/access-requests/{late_request['id']}/approve", company.token("late")
    )
    assert (own_again.status_code, own_again.json()["code"]) == (403, "own_request")

    # Reads: the requester sees their requests; owners see them all (and those to decide).
    mine = company.call("GET", "/v1/access-requests", company.token("pub")).json()["items"]
    assert [r["id"] for r in mine] == [request["id"]]
    to_decide = company.call(
        "GET", "/v1/access-requests", company.token("o1"), params={"to_decide": "true"}
    ).json()["items"]
    assert [r["id"] for r in to_decide] == [late_request["id"]]
    assert (
        company.call(
            "GET", f"/v1/access-requests/{request['id']}", company.token("view")
        ).status_code
        == 403
    )

    # Revocation: by an owner, once.
    assert (
        company.call(
            "POST",
            f"/v1/grants/{grant['id']}/revoke",
            company.token("view"),
            json_body={"reason": "x"},
        ).status_code
        == 403
    )
    revoked = company.call(
        "POST",
        f"/v1/grants/{grant['id']}/revoke",
        company.token("o2"),
        json_body={"reason": "campaign over"},
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None and not revoked.json()["active"]
    twice_revoked = company.call(
        "POST", f"/v1/grants/{grant['id']}/revoke", company.token("o1"), json_body={"reason": "x"}
    )
    assert (twice_revoked.status_code, twice_revoked.json()["code"]) == (409, "grant_not_open")

    # An ownership request: approved by another owner, it makes the requester an owner.
    owner_request = company.call(
        "POST",
        "/v1/access-requests",
        company.token("pub"),
        json_body={"account_id": account_id, "role": "owner", "justification": "team lead"},
    ).json()
    assert sorted(owner_request["deciders"]) == sorted([o1, o2, late])
    made_owner = company.call(
        "POST", f"/v1/access-requests/{owner_request['id']}/approve", company.token("o2")
    ).json()
    assert made_owner["grant"]["role"] == "owner" and made_owner["grant"]["expires_at"] is None
    read = company.call("GET", f"/v1/accounts/{account_id}", company.token("pub")).json()
    assert read["owners"] == [o1, o2, late, pub]

    events = await eventually(
        lambda: company.events(GRANT.name),
        lambda found: (
            sum(t.endswith("revoked") for t, _, _, _ in found) == 1
            and sum(t.endswith("granted") for t, _, _, _ in found) == 5
        ),
        what="grant topic events",
    )
    kinds = Counter(t.rsplit(".", 1)[1] for t, _, _, _ in events)
    # Granted: o1 and o2 at registration, the publisher, `late` made owner, `pub` made owner.
    assert kinds == Counter(requested=4, approved=2, denied=1, granted=5, revoked=1), kinds
    requested = next(d for t, s, d, _ in events if s == request["id"] and t.endswith("requested"))
    assert sorted(requested["deciders"]) == sorted([o1, o2]) and requested["requester_id"] == pub
    assert requested["duration_days"] == 7
    granted = next(d for t, s, d, _ in events if s == grant["id"] and t.endswith("granted"))
    assert granted["request_id"] == request["id"] and granted["expires_at"] is not None
    revoked_event = next(d for t, s, d, _ in events if s == grant["id"] and t.endswith("revoked"))
    assert revoked_event["revoked_by"] == o2 and revoked_event["reason"] == "campaign over"


async def test_batch_lookups_and_what_each_caller_sees(company) -> None:
    await company.units(("sub-a", "subsidiary", "company"), ("sub-b", "subsidiary", "company"))
    await company.hire(
        ("a1", "sub-a"), ("a2", "sub-a"), ("b1", "sub-b"), ("b2", "sub-b"), ("pub", "company")
    )
    a = company.register("acct_a", "sub-a", ["a1", "a2"])["id"]
    b = company.register("acct_b", "sub-b", ["b1", "b2"])["id"]
    on_a = company.grant(a, "pub", "publisher", "a1")
    on_b_viewer = company.grant(b, "a1", "viewer", "b1")
    pub, a1, b1 = (company.staff[n] for n in ("pub", "a1", "b1"))

    def by_holders(token: str, holders: list[str]) -> dict[str, list[str]]:
        answer = company.call(
            "POST", "/v1/grants/by-holders", token, json_body={"holder_ids": holders}
        )
        assert answer.status_code == 200, answer.text
        return {g["holder_id"]: [x["id"] for x in g["grants"]] for g in answer.json()["groups"]}

    def by_accounts(token: str, accounts: list[str]) -> dict[str, set[str]]:
        answer = company.call(
            "POST", "/v1/grants/by-accounts", token, json_body={"account_ids": accounts}
        )
        assert answer.status_code == 200, answer.text
        return {
            g["account_id"]: {x["holder_id"] for x in g["grants"]} for g in answer.json()["groups"]
        }

    # A publisher of A sees their own grant, nothing else of A, nothing of B.
    assert by_holders(company.token("pub"), [pub, b1]) == {pub: [on_a["id"]], b1: []}
    assert by_accounts(company.token("pub"), [a, b]) == {a: {pub}, b: set()}
    assert (
        company.call("GET", f"/v1/grants/{on_b_viewer['id']}", company.token("pub")).status_code
        == 403
    )
    listed = company.call(
        "GET", "/v1/grants", company.token("pub"), params={"account_id": b}
    ).json()
    assert listed["items"] == []
    # Owners see their account's grants, in one call for many accounts.
    assert by_accounts(company.token("a1"), [a, b]) == {
        a: {company.staff["a1"], company.staff["a2"], pub},
        b: {a1},
    }
    assert by_accounts(company.token("b1"), [b])[b] == {b1, company.staff["b2"], a1}
    # Admins and auditors by unit subtree.
    auditor_b = company.token("aud", (Role.AUDITOR, "sub-b"))
    assert by_accounts(auditor_b, [a, b]) == {a: set(), b: {b1, company.staff["b2"], a1}}
    everything = by_holders(company.token("root", (Role.ADMIN, "company")), [pub, a1])
    assert everything[pub] == [on_a["id"]]
    assert on_b_viewer["id"] in everything[a1] and len(everything[a1]) == 2  # and A's ownership

    # Bad input gets a 4xx with a code, and the batch has a size limit.
    for path, body in (
        ("/v1/grants/by-holders", {"holder_ids": []}),
        ("/v1/grants/by-holders", {"holder_ids": [f"p{i}" for i in range(501)]}),
        ("/v1/grants/by-accounts", {"accounts": [a]}),
        ("/v1/accounts/batch-get", {"ids": "not-a-list"}),
    ):
        answer = company.call("POST", path, company.root, json_body=body)
        assert answer.status_code == 422 and answer.json()["code"] == "validation_failed"
    bad_cursor = company.call("GET", "/v1/grants", company.root, params={"after": "%%%"})
    assert (bad_cursor.status_code, bad_cursor.json()["code"]) == (400, "bad_cursor")
    assert (
        company.call("GET", "/v1/grants/no-such-grant", company.root).json()["code"]
        == "grant_not_found"
    )
    assert company.call("GET", "/v1/grants", "not-a-token").status_code == 401
