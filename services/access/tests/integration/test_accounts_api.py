"""The account register against the real service: owners, coverage alerts, owner grants."""

from __future__ import annotations

import httpx

from chorus_kit.events.catalogue import ACCESS_AUDIT, ACCOUNT, GRANT
from chorus_kit.events.identity import Role
from tests.support.api import bearer
from tests.support.polling import eventually

COVERAGE_LOW = "chorus.access.account.coverage_low"


async def test_register_owners_and_coverage(company) -> None:
    await company.units(("sub-a", "subsidiary", "company"), ("a-dept", "department", "sub-a"))
    o1, o2, o3, _ = await company.hire(
        ("o1", "a-dept"), ("o2", "a-dept"), ("o3", "sub-a"), ("elsewhere", "company")
    )
    admin_a = company.token("admin-a", (Role.ADMIN, "sub-a"))

    # One owner is allowed at registration but flags the account and alerts.
    account = company.register("@brand_a", "sub-a", ["o1"])
    assert account["coverage_low"] and account["owners"] == [o1]
    assert account["policy"] == {
        "max_grant_days": 90,
        "rotate_after_checkout": False,
        "secret_max_age_days": 90,
    }
    account_id = account["id"]

    # Owners must be active staff within the account's unit subtree.
    refused = company.call(
        "POST",
        f"/v1/accounts/{account_id}/owners",
        admin_a,
        json_body={"person_id": company.staff["elsewhere"]},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "owner_not_eligible")
    unknown = company.call(
        "POST", f"/v1/accounts/{account_id}/owners", admin_a, json_body={"person_id": "nobody"}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (409, "owner_not_eligible")

    # An existing owner adds a second owner: coverage restored (no new alert).
    added = company.call(
        "POST",
        f"/v1/accounts/{account_id}/owners",
        company.token("o1"),
        json_body={"person_id": o2},
    )
    assert added.status_code == 200, added.text
    assert added.json()["owners"] == [o1, o2] and not added.json()["coverage_low"]
    again = company.call(
        "POST",
        f"/v1/accounts/{account_id}/owners",
        company.token("o1"),
        json_body={"person_id": o2},
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_owner")
    # A stranger (not owner, not admin over the unit) may not add owners.
    stranger = company.call(
        "POST",
        f"/v1/accounts/{account_id}/owners",
        company.token("elsewhere"),
        json_body={"person_id": o3},
    )
    assert (stranger.status_code, stranger.json()["code"]) == (403, "not_owner_or_admin")
    assert (
        company.call(
            "POST", f"/v1/accounts/{account_id}/owners", admin_a, json_body={"person_id": o3}
        ).status_code
        == 200
    )

    # Only admins remove owners; 3 -> 2 is fine, 2 -> 1 alerts again.
    owner_removes = company.call(
        "DELETE", f"/v1/accounts/{account_id}/owners/{o3}", company.token("o1")
    )
    assert (owner_removes.status_code, owner_removes.json()["code"]) == (403, "not_admin_of_unit")
    for person, low in ((o3, False), (o2, True)):
        removed = company.call(
            "DELETE", f"/v1/accounts/{account_id}/owners/{person}", admin_a, params={"reason": "r"}
        )
        assert removed.status_code == 200, removed.text
        assert removed.json()["coverage_low"] is low
    read = company.call("GET", f"/v1/accounts/{account_id}", company.token("o1"))
    assert read.json()["owners"] == [o1] and read.json()["coverage_low"]

    events = await eventually(
        lambda: company.events(ACCOUNT.name),
        lambda found: (
            sum(t == COVERAGE_LOW for t, _, _, _ in found) >= 2
            and sum(t.endswith("owner_removed") for t, _, _, _ in found) == 2
        ),
        what="account events on Kafka",
    )
    kinds = [t.rsplit(".", 1)[1] for t, _, _, _ in events]
    assert kinds == [
        "registered",
        "coverage_low",
        "owner_added",
        "owner_added",
        "owner_removed",
        "owner_removed",
        "coverage_low",
    ]
    low = [d for t, _, d, _ in events if t == COVERAGE_LOW][-1]
    assert low["active_owners"] == 1 and low["owners"] == [o1]

    # Owners are exactly the active owner grants: intervals opened and closed.
    grants = company.db["grants"]
    owner_grants = await eventually(
        lambda: grants.find({"account_id": account_id, "role": "owner"}).to_list(),
        lambda found: len(found) == 3 and sum(g["revoked_at"] is not None for g in found) == 2,
        what="owner grants",
    )
    open_owners = [g["holder_id"] for g in owner_grants if g["revoked_at"] is None]
    assert open_owners == [o1] and all(g["expires_at"] is None for g in owner_grants)
    grant_events = await eventually(
        lambda: company.types_on(GRANT.name),
        lambda c: c["chorus.access.grant.granted"] == 3 and c["chorus.access.grant.revoked"] == 2,
        what="owner grants' events",
    )
    assert set(grant_events) == {"chorus.access.grant.granted", "chorus.access.grant.revoked"}

    # Every change has its audit entry, readable by scope.
    audit = await eventually(
        lambda: company.types_on(ACCESS_AUDIT.name),
        lambda c: c["chorus.access.audit.recorded"] >= 10,
        what="audit entries",
    )
    assert audit["chorus.access.audit.recorded"] == 10  # 5 account changes, 5 grant changes
    entries = await eventually(
        lambda: company.fetch("GET", "/v1/audit", admin_a, params={"target_id": account_id}),
        lambda page: len(page.get("items", [])) == 5,
        what="the account's audit entries served",
    )
    assert [e["action"] for e in reversed(entries["items"])] == [
        "account.registered",
        "account.owner_added",
        "account.owner_added",
        "account.owner_removed",
        "account.owner_removed",
    ]
    assert all(e["unit_id"] == "sub-a" for e in entries["items"])
    # An auditor of another unit sees none of it; an employee may not read the log at all.
    auditor_b = company.token("aud-b", (Role.AUDITOR, "sub-b"))
    assert company.call("GET", "/v1/audit", auditor_b).json()["items"] == []
    assert company.call("GET", "/v1/audit", company.token("o1")).status_code == 403


async def test_register_update_read_and_bad_input(company) -> None:
    await company.units(("sub-b", "subsidiary", "company"))
    o1, o2 = await company.hire(("o1", "sub-b"), ("o2", "sub-b"))
    admin_b = company.token("admin-b", (Role.ADMIN, "sub-b"))
    admin_elsewhere = company.token("admin-x", (Role.ADMIN, "nowhere"))
    body = {
        "network": "linkedin",
        "handle": "chorus-careers",
        "url": "https://www.linkedin.com/company/chorus-careers",
        "unit_id": "sub-b",
        "purpose": "recruiting posts",
        "classification": "recruiting",
        "owners": [o1, o2],
    }
    assert company.call("POST", "/v1/accounts", admin_elsewhere, json_body=body).status_code == 403
    created = company.call("POST", "/v1/accounts", admin_b, json_body=body)
    assert created.status_code == 201, created.text
    account = created.json()
    assert not account["coverage_low"] and account["policy"]["max_grant_days"] == 180
    duplicate = company.call(
        "POST", "/v1/accounts", admin_b, json_body={**body, "handle": "@Chorus-Careers"}
    )
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "account_exists")

    for bad, code in (
        ({**body, "network": "myspace"}, "validation_failed"),
        ({**body, "owners": []}, "validation_failed"),
        ({**body, "handle": "has spaces"}, "validation_failed"),
        ({**body, "url": "not a url"}, "validation_failed"),
        ({**body, "surprise": 1}, "validation_failed"),
        ({**body, "handle": "other", "unit_id": "no-such-unit"}, "unit_not_found"),
    ):
        answer = company.call("POST", "/v1/accounts", admin_b, json_body=bad)
        assert 400 <= answer.status_code < 500 and answer.json()["code"] == code, (bad, answer.text)
        assert "myspace" not in answer.text and "has spaces" not in answer.text  # never echoed

    changed = company.call(
        "PATCH", f"/v1/accounts/{account['id']}", admin_b, json_body={"classification": "executive"}
    )
    assert changed.status_code == 200 and changed.json()["policy"]["max_grant_days"] == 30
    assert (
        company.call(
            "PATCH",
            f"/v1/accounts/{account['id']}",
            company.token("o1"),
            json_body={"purpose": "x"},
        ).status_code
        == 403
    )

    # Reads: owners and staff of the unit see it; batch-get leaves out what one may not see.
    assert (
        company.call("GET", f"/v1/accounts/{account['id']}", company.token("o2")).status_code == 200
    )
    outsider = company.token("outsider", (Role.EMPLOYEE, "nowhere"))
    assert company.call("GET", f"/v1/accounts/{account['id']}", outsider).status_code == 403
    batch = company.call(
        "POST", "/v1/accounts/batch-get", admin_b, json_body={"ids": [account["id"], "missing"]}
    ).json()
    assert [a["id"] for a in batch["accounts"]] == [account["id"]] and batch["not_found"] == [
        "missing"
    ]
    hidden = company.call(
        "POST", "/v1/accounts/batch-get", outsider, json_body={"ids": [account["id"]]}
    ).json()
    assert hidden == {"accounts": [], "not_found": [account["id"]]}
    listed = company.call("GET", "/v1/accounts", admin_b, params={"unit_id": "sub-b"}).json()
    assert [a["id"] for a in listed["items"]] == [account["id"]]
    assert company.call("GET", "/v1/accounts", outsider).json()["items"] == []
    assert company.call("GET", "/v1/accounts", admin_b, params={"limit": 0}).status_code == 422

    # The mirrored tree decides scope: a unit moved out of sub-b takes its accounts along.
    await company.units(("b-dept", "department", "sub-b"))
    (d1, d2) = await company.hire(("d1", "b-dept"), ("d2", "b-dept"))
    in_dept = company.register("dept_account", "b-dept", ["d1", "d2"])["id"]
    patch = {"purpose": "moved"}
    assert (
        company.call("PATCH", f"/v1/accounts/{in_dept}", admin_b, json_body=patch).status_code
        == 200
    )
    moved = httpx.post(
        f"{company.identity.url}/v1/org-units/b-dept/move",
        json={"parent_id": "company"},
        headers=bearer(company.root),
    )
    assert moved.status_code == 200, moved.text
    await eventually(
        lambda: company.db["org_units"].find_one({"_id": "b-dept"}),
        lambda unit: unit["parent_id"] == "company",
        what="the move mirrored",
    )
    refused = await eventually(
        lambda: company.fetch("PATCH", f"/v1/accounts/{in_dept}", admin_b, json_body=patch),
        lambda answer: answer.get("code") == "not_admin_of_unit",
        what="sub-b's admin no longer covers the moved unit",
    )
    assert refused["status"] == 403

    events = await eventually(
        lambda: company.events(ACCOUNT.name),
        lambda found: len(found) == 4,
        what="registered and updated",
    )
    events = [e for e in events if e[1] == account["id"]]
    assert [t for t, _, _, _ in events] == [
        "chorus.access.account.registered",
        "chorus.access.account.updated",
    ]
    assert events[1][2]["changed"] == ["classification"]
