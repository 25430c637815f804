"""Reading access through the gateway: accounts with owners, coverage and grants, my access,
requests to decide, the report, former staff, the audit log; what a caller may not see
stays out; and one access call per level for a list of employees with their grants."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chorus_kit.events.identity import Role
from tests.support.access_world import AccessWorld, access_world
from tests.support.polling import eventually


@pytest.fixture(scope="module")
async def world(stack) -> AsyncIterator[AccessWorld]:
    with access_world(stack) as built:
        built.unit("dept-qa")
        built.unit("dept-qb")
        await built.hire("dept-qa", "owner_a1", "owner_a2", "pub_a")
        await built.hire("dept-qb", "owner_b1", "owner_b2", "pub_b")
        a = await built.register("qa-brand", "dept-qa", ["owner_a1", "owner_a2"])
        b = await built.register("qb-brand", "dept-qb", ["owner_b1", "owner_b2"])
        built.grant(a["id"], "pub_a", "publisher", "owner_a1")
        built.grant(b["id"], "pub_b", "publisher", "owner_b1")
        yield built


ACCOUNT = """query($id: ID!) {
  account(id: $id) {
    __typename
    ... on Account {
      handle network classification coverage coverageLow unitId unit { name }
      owners { email }
      grants { role holderId active }
    }
    ... on Problem { code }
  }
}"""


def test_an_account_with_owners_coverage_and_grants(world: AccessWorld) -> None:
    found = world.gql.data(ACCOUNT, {"id": world.accounts["qa-brand"]}, token=world.admin)
    account = found["account"]
    assert account["__typename"] == "Account"
    assert account["handle"] == "qa-brand" and account["network"] == "X"
    assert account["coverage"] == 2 and account["coverageLow"] is False
    assert account["unit"] == {"name": "dept-qa"}
    assert sorted(o["email"] for o in account["owners"]) == sorted(
        world.emails[n] for n in ("owner_a1", "owner_a2")
    )
    roles = sorted((g["role"], g["holderId"]) for g in account["grants"])
    assert roles == sorted(
        [
            ("OWNER", world.people["owner_a1"]),
            ("OWNER", world.people["owner_a2"]),
            ("PUBLISHER", world.people["pub_a"]),
        ]
    )

    missing = world.gql.data(ACCOUNT, {"id": "no-such-account"}, token=world.admin)
    assert missing["account"]["__typename"] == "NotFound"


def test_accounts_connection_pages_and_filters(world: AccessWorld) -> None:
    query = """query($after: String, $unit: ID) {
      accounts(first: 1, after: $after, unitId: $unit) {
        ... on AccountConnection {
          edges { cursor node { handle } }
          pageInfo { hasNextPage endCursor }
        }
      }
    }"""
    first = world.gql.data(query, token=world.admin)["accounts"]
    assert len(first["edges"]) == 1 and first["pageInfo"]["hasNextPage"] is True
    second = world.gql.data(query, {"after": first["pageInfo"]["endCursor"]}, token=world.admin)[
        "accounts"
    ]
    handles = {first["edges"][0]["node"]["handle"], second["edges"][0]["node"]["handle"]}
    assert handles == {"qa-brand", "qb-brand"}
    only_b = world.gql.data(query, {"unit": "dept-qb"}, token=world.admin)["accounts"]
    assert [e["node"]["handle"] for e in only_b["edges"]] == ["qb-brand"]

    too_many = world.gql.data(
        "{ accounts(first: 101) { __typename ... on Problem { code } } }", token=world.admin
    )
    assert too_many["accounts"] == {"__typename": "ValidationFailed", "code": "bad_page_size"}


def test_a_publisher_sees_their_own_access_and_nothing_of_another_unit(world: AccessWorld) -> None:
    pub_a = world.token("pub_a")
    mine = world.gql.data(
        """{ myAccess { grants { role account { handle } } requests { status role } }
             me { employee { grants { role } } } }""",
        token=pub_a,
    )
    assert mine["myAccess"]["grants"] == [{"role": "PUBLISHER", "account": {"handle": "qa-brand"}}]
    assert {"status": "APPROVED", "role": "PUBLISHER"} in mine["myAccess"]["requests"]
    assert mine["me"]["employee"]["grants"] == [{"role": "PUBLISHER"}]

    # Account A as its publisher: only their own grant, not the owners'.
    on_a = world.gql.data(ACCOUNT, {"id": world.accounts["qa-brand"]}, token=pub_a)["account"]
    assert [g["holderId"] for g in on_a["grants"]] == [world.people["pub_a"]]

    # Account B (another unit) is not there for them, and none of B's grants show anywhere.
    on_b = world.gql.data(ACCOUNT, {"id": world.accounts["qb-brand"]}, token=pub_a)["account"]
    assert on_b == {"__typename": "NotFound", "code": "account_not_found"}
    listed = world.gql.data(
        "{ accounts { ... on AccountConnection { nodes { handle grants { holderId } } } } }",
        token=pub_a,
    )["accounts"]["nodes"]
    assert [a["handle"] for a in listed] == ["qa-brand"]
    assert world.people["pub_b"] not in str(listed)

    # The reports and the audit log are for admins and auditors.
    refused = world.gql.data(
        """{ accessReport { __typename ... on Problem { code } }
             formerStaffWithAccess { __typename }
             accessAuditLog { __typename } }""",
        token=pub_a,
    )
    assert refused["accessReport"]["__typename"] == "Forbidden"
    assert refused["formerStaffWithAccess"]["__typename"] == "Forbidden"
    assert refused["accessAuditLog"]["__typename"] == "Forbidden"


def test_an_owner_sees_requests_to_decide(world: AccessWorld) -> None:
    asked = world.call(
        "POST",
        "/v1/access-requests",
        world.token("pub_a"),
        {"account_id": world.accounts["qa-brand"], "role": "viewer", "justification": "read"},
    )
    assert asked.status_code == 201, asked.text
    query = """{ accessRequestsToDecide {
      ... on AccessRequestPage { nodes { id role status deciderIds account { handle } } }
    } }"""
    for_owner = world.gql.data(query, token=world.token("owner_a2"))
    nodes = for_owner["accessRequestsToDecide"]["nodes"]
    assert [n["id"] for n in nodes] == [asked.json()["id"]]
    assert nodes[0]["account"] == {"handle": "qa-brand"} and nodes[0]["status"] == "PENDING"
    assert set(nodes[0]["deciderIds"]) == {world.people["owner_a1"], world.people["owner_a2"]}
    # Owners of another account, and the requester, have nothing to decide.
    assert world.gql.data(query, token=world.token("owner_b1"))["accessRequestsToDecide"] == {
        "nodes": []
    }
    assert world.gql.data(query, token=world.token("pub_a"))["accessRequestsToDecide"] == {
        "nodes": []
    }


def test_report_former_staff_and_audit_for_an_admin(world: AccessWorld) -> None:
    unit_admin = world.stack.tokens("admin-qa", (Role.ADMIN, "dept-qa"))
    data = world.gql.data(
        """{
          accessReport(unitId: "dept-qa") {
            ... on AccessReport { rows { handle role holderId holder { email } } }
          }
          formerStaffWithAccess { ... on FormerStaffReport { people { personId } openGrants } }
          accessAuditLog(first: 50) { ... on AuditLogPage { nodes { action targetType } } }
        }""",
        token=unit_admin,
    )
    rows = data["accessReport"]["rows"]
    assert {r["handle"] for r in rows} == {"qa-brand"}  # nothing of dept-qb
    assert {(r["role"], r["holderId"]) for r in rows} >= {("PUBLISHER", world.people["pub_a"])}
    assert all(r["holder"] is not None for r in rows)
    assert data["formerStaffWithAccess"] == {"people": [], "openGrants": 0}
    actions = {e["action"] for e in data["accessAuditLog"]["nodes"]}
    assert "account.registered" in actions


async def test_one_access_call_per_level_for_fifty_employees_with_grants(
    world: AccessWorld, proxy
) -> None:
    world.unit("dept-many")
    names = [f"many{n}" for n in range(50)]
    await world.hire("dept-many", *names)
    for index in range(3):  # owners get an owner grant each: 50 people, 50 grants
        await world.register(f"many-{index}", "dept-many", names[index::3])
    proxy.reset()
    world.proxy.reset()

    data = world.gql.data(
        """{ employees(unitId: "dept-many", first: 50) {
          ... on EmployeeConnection {
            nodes { id unit { name } grants { role account { handle coverage } } }
          }
        } }""",
        token=world.admin,
    )
    nodes = data["employees"]["nodes"]
    assert len(nodes) == 50
    assert all(len(n["grants"]) == 1 and n["grants"][0]["role"] == "OWNER" for n in nodes)
    assert {n["grants"][0]["account"]["handle"] for n in nodes} == {
        "many-0",
        "many-1",
        "many-2",
    }
    assert world.proxy.count("POST", "/v1/grants/by-holders") == 1
    assert world.proxy.count("POST", "/v1/accounts/batch-get") == 1
    assert sum(world.proxy.calls.values()) == 2
    assert proxy.count("GET", "/v1/employees") == 1
    assert proxy.count("GET", "/v1/org-units") == 1


ROWS_WITH_GRANTS_NOW_AND_EVER = """{ employees(unitId: "dept-rows", first: 10) {
  ... on EmployeeConnection {
    edges { node { id now: grants { role } ever: grants(activeOnly: false) { role active } } }
  }
} }"""


async def test_a_page_fetches_its_rows_grants_per_active_only_and_keeps_rows_apart(
    world: AccessWorld,
) -> None:
    world.unit("dept-rows")
    kept, left = await world.hire("dept-rows", "rows_kept", "rows_left")
    await world.hire("dept-rows", "rows_owner2")
    account = await world.register("rows-brand", "dept-rows", ["rows_kept", "rows_owner2"])
    grant = world.grant(account["id"], "rows_left", "viewer", "rows_kept")
    revoked = world.call(
        "POST", f"/v1/grants/{grant['id']}/revoke", world.admin, {"reason": "test"}
    )
    assert revoked.status_code == 200, revoked.text
    world.proxy.reset()

    data = world.gql.data(ROWS_WITH_GRANTS_NOW_AND_EVER, token=world.admin)
    rows = {e["node"]["id"]: e["node"] for e in data["employees"]["edges"]}
    assert rows[kept]["now"] == [{"role": "OWNER"}]
    assert rows[left]["now"] == []
    assert rows[left]["ever"] == [{"role": "VIEWER", "active": False}]
    # one call for each `activeOnly` asked, whatever the number of rows
    assert world.proxy.count("POST", "/v1/grants/by-holders") == 2

    # grants left out by a directive are not fetched; an unset variable is the default
    world.proxy.reset()
    data = world.gql.data(
        """query($show: Boolean!, $active: Boolean) { employees(unitId: "dept-rows") {
          ... on EmployeeConnection {
            nodes { id hidden: grants @include(if: $show) { role } }
            edges { node { id grants(activeOnly: $active) { role } } }
          }
        } }""",
        {"show": False},
        token=world.admin,
    )
    rows = {e["node"]["id"]: e["node"] for e in data["employees"]["edges"]}
    assert rows[left]["grants"] == [] and rows[kept]["grants"] == [{"role": "OWNER"}]
    assert all("hidden" not in n for n in data["employees"]["nodes"])
    assert world.proxy.count("POST", "/v1/grants/by-holders") == 1


async def test_a_slow_access_leaves_the_rows_with_an_error_on_their_grants(
    world: AccessWorld,
) -> None:
    world.proxy.delays["/v1/grants/by-holders"] = 5
    try:
        began = asyncio.get_running_loop().time()
        response = world.gql.post(
            """{ employees(unitId: "dept-qa", first: 10) {
              ... on EmployeeConnection { nodes { id grants { role } } } } }""",
            token=world.admin,
        )
        elapsed = asyncio.get_running_loop().time() - began
    finally:
        world.proxy.reset()
    body = response.json()
    assert response.status_code == 200 and elapsed < 4, (response.status_code, elapsed)
    nodes = body["data"]["employees"]["nodes"]
    assert {n["id"] for n in nodes} == {world.people[n] for n in ("owner_a1", "owner_a2", "pub_a")}
    assert all(n["grants"] is None for n in nodes)
    codes = {(e["path"][-1], e["extensions"]["code"]) for e in body["errors"]}
    assert codes == {("grants", "SERVICE_UNAVAILABLE")}
    assert len(body["errors"]) == len(nodes)


async def test_leases_and_review_items_take_one_access_call_each(world: AccessWorld, proxy) -> None:
    second = await world.register("qa-second", "dept-qa", ["owner_a1", "owner_a2"])
    world.grant(second["id"], "pub_a", "publisher", "owner_a1")
    leases = set()
    for account in (world.accounts["qa-brand"], second["id"]):
        path = f"/v1/accounts/{account}/secrets/password"
        recorded = world.call("PUT", path, world.token("owner_a1"), {"value": "pw-1"})
        assert recorded.status_code == 200, recorded.text
        taken = world.call("POST", f"{path}/check-out", world.token("pub_a"), {"minutes": 30})
        assert taken.status_code == 201, taken.text
        leases.add(taken.json()["lease"]["lease_id"])
    reviews = set()
    for unit in ("dept-qa", "dept-qb"):
        body = {"unit_id": unit, "duration_seconds": 3600, "undecided": "keep"}
        started = world.call("POST", "/v1/access-reviews", world.admin, body)
        assert started.status_code == 201, started.text
        reviews.add(started.json()["id"])
    await eventually(
        lambda: asyncio.to_thread(world.call, "GET", "/v1/access-reviews", world.admin),
        lambda r: {x["id"] for x in r.json()["items"] if x["status"] == "open"} >= reviews,
        what="both reviews open",
    )
    proxy.reset()
    world.proxy.reset()

    mine = world.gql.data(
        "{ myAccess { leases { id account { handle } } } }", token=world.token("pub_a")
    )["myAccess"]["leases"]
    assert {x["id"] for x in mine} == leases
    assert {x["account"]["handle"] for x in mine} == {"qa-brand", "qa-second"}
    # One call for the leases (whatever the accounts), one for their accounts.
    assert world.proxy.count("POST", "/v1/leases/by-holders") == 1
    assert world.proxy.count("POST", "/v1/accounts/batch-get") == 1
    assert sum(world.proxy.calls.values()) == 2, world.proxy.calls

    world.proxy.reset()
    proxy.reset()
    listed = world.gql.data(
        """{ accessReviews(first: 20) { ... on AccessReviewPage { nodes {
          id items(first: 50) { ... on AccessReviewItemPage { nodes { grantId holder { id } } } }
        } } } }""",
        token=world.admin,
    )["accessReviews"]["nodes"]
    assert {r["id"] for r in listed} == reviews
    assert all(r["items"]["nodes"] for r in listed)
    assert all(i["holder"] is not None for r in listed for i in r["items"]["nodes"])
    # The campaigns, then one call for the items of both, then one for their holders.
    assert world.proxy.count("GET", "/v1/access-reviews") == 1
    assert world.proxy.count("POST", "/v1/access-reviews/items/by-reviews") == 1
    assert sum(world.proxy.calls.values()) == 2, world.proxy.calls
    assert proxy.count("POST", "/v1/employees/batch-get") == 1
    assert sum(proxy.calls.values()) == 1, proxy.calls
