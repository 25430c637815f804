"""Reading the directory through the gateway: me, employees, the org tree, the audit log,
with identity's permissions showing through, and one backend call per level."""

from __future__ import annotations

import httpx

from chorus_kit.events.identity import Role
from tests.support.api import create_unit, hire
from tests.support.polling import eventually

EMPLOYEE_FIELDS = "id email givenName familyName displayName status version unitId"


def _hire(stack, token, n, **fields):
    response = hire(stack.identity.url, token, n, **fields)
    assert response.status_code == 201, response.text
    return response.json()


def test_me_and_an_employee_with_unit_and_manager(stack, gql) -> None:
    admin = stack.token()
    create_unit(stack.identity.url, admin, "dept-read", name="Readers")
    boss = _hire(stack, admin, "boss-r", unit_id="dept-read", title="Head")
    worker = _hire(stack, admin, "worker-r", unit_id="dept-read", manager_id=boss["id"])
    own = stack.token(Role.EMPLOYEE, "dept-read", sub=worker["id"])

    data = gql.data(
        """query {
          me { subject roles { role unitId unit { name } } employee { email displayName } }
        }""",
        token=own,
    )
    assert data["me"]["subject"] == worker["id"]
    assert data["me"]["roles"] == [
        {"role": "EMPLOYEE", "unitId": "dept-read", "unit": {"name": "Readers"}}
    ]
    assert data["me"]["employee"] == {
        "email": "personworker-r@example.com",
        "displayName": "Person Number worker-r",
    }

    query = """query($id: ID!) {
      employee(id: $id) {
        __typename
        ... on Employee {
          email title
          unit { id name kind parent { id kind } ancestors { id } }
          manager { email title }
          managementChain { id }
        }
        ... on Problem { code message }
      }
    }"""
    found = gql.data(query, {"id": worker["id"]}, token=admin)["employee"]
    assert found["__typename"] == "Employee"
    assert found["unit"] == {
        "id": "dept-read",
        "name": "Readers",
        "kind": "DEPARTMENT",
        "parent": {"id": "company", "kind": "COMPANY"},
        "ancestors": [{"id": "company"}],
    }
    assert found["manager"] == {"email": "personboss-r@example.com", "title": "Head"}
    assert found["managementChain"] == [{"id": boss["id"]}]

    # The worker may read themselves but not their manager: the field is empty, and the
    # manager looked up directly is "not found" (identity discloses no more).
    own_view = gql.data(query, {"id": worker["id"]}, token=own)["employee"]
    assert own_view["manager"] is None and own_view["email"] == "personworker-r@example.com"
    hidden = gql.data(query, {"id": boss["id"]}, token=own)["employee"]
    assert hidden == {"__typename": "NotFound", "code": "not_found", "message": hidden["message"]}


def test_employees_connection_pages_and_filters(stack, gql) -> None:
    admin = stack.token()
    create_unit(stack.identity.url, admin, "dept-page", name="Pages")
    create_unit(stack.identity.url, admin, "team-page", parent_id="dept-page", name="Sub")
    hired = [_hire(stack, admin, f"page{n}", unit_id="dept-page") for n in range(3)]
    hired.append(_hire(stack, admin, "page-sub", unit_id="team-page", family_name="Zeta"))
    query = """query($first: Int!, $after: String, $unit: ID, $search: String) {
      employees(first: $first, after: $after, unitId: $unit, search: $search) {
        __typename
        ... on EmployeeConnection {
          edges { cursor node { id } }
          nodes { email }
          pageInfo { hasNextPage endCursor hasPreviousPage }
        }
        ... on Problem { code }
      }
    }"""
    seen: list[str] = []
    after = None
    while True:
        page = gql.data(query, {"first": 2, "after": after, "unit": "dept-page"}, token=admin)
        connection = page["employees"]
        assert connection["__typename"] == "EmployeeConnection"
        seen += [e["node"]["id"] for e in connection["edges"]]
        assert connection["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]
    # The unit's subtree, each once, in a stable order.
    assert sorted(seen) == sorted(h["id"] for h in hired) and len(seen) == 4

    # An edge's cursor continues right after that edge.
    first_two = gql.data(query, {"first": 2, "unit": "dept-page"}, token=admin)["employees"]
    cursor = first_two["edges"][0]["cursor"]
    rest = gql.data(query, {"first": 1, "after": cursor, "unit": "dept-page"}, token=admin)
    assert rest["employees"]["edges"][0]["node"]["id"] == first_two["edges"][1]["node"]["id"]

    zeta = gql.data(query, {"first": 10, "search": "zet"}, token=admin)["employees"]
    assert [n["email"] for n in zeta["nodes"]] == ["personpage-sub@example.com"]

    too_many = gql.data(query, {"first": 101}, token=admin)["employees"]
    assert too_many == {"__typename": "ValidationFailed", "code": "bad_page_size"}
    bad_cursor = gql.data(query, {"first": 1, "after": "%%%"}, token=admin)["employees"]
    assert bad_cursor == {"__typename": "ValidationFailed", "code": "bad_cursor"}


def test_a_unit_admin_sees_only_their_subtree(stack, gql) -> None:
    admin = stack.token()
    create_unit(stack.identity.url, admin, "dept-a", name="A")
    create_unit(stack.identity.url, admin, "dept-b", name="B")
    in_a = _hire(stack, admin, "in-a", unit_id="dept-a")
    in_b = _hire(stack, admin, "in-b", unit_id="dept-b")
    admin_a = stack.token(Role.ADMIN, "dept-a", sub="admin-of-a")
    query = "{ employees(first: 100) { ... on EmployeeConnection { nodes { id unitId } } } }"
    nodes = gql.data(query, token=admin_a)["employees"]["nodes"]
    assert {n["unitId"] for n in nodes} == {"dept-a"} and in_a["id"] in {n["id"] for n in nodes}
    other = gql.data(
        "query($id: ID!) { employee(id: $id) { __typename } }", {"id": in_b["id"]}, token=admin_a
    )
    assert other["employee"]["__typename"] == "NotFound"


def test_org_tree_units_children_and_staff(stack, gql) -> None:
    admin = stack.token()
    create_unit(stack.identity.url, admin, "sub-tree", kind="subsidiary", name="Tree Co")
    create_unit(stack.identity.url, admin, "dept-tree", parent_id="sub-tree", name="Roots")
    _hire(stack, admin, "tree1", unit_id="dept-tree")
    data = gql.data(
        """query {
          orgUnit(id: "sub-tree") {
            ... on OrgUnit {
              name kind parent { id }
              children { id name employees(first: 5) { ... on EmployeeConnection {
                nodes { email unit { id } } } } }
            }
          }
          orgTree { ... on OrgTreeView { root { id name } units { id } } }
          missing: orgUnit(id: "nope") { __typename }
        }""",
        token=admin,
    )
    unit = data["orgUnit"]
    assert unit["name"] == "Tree Co" and unit["kind"] == "SUBSIDIARY"
    assert unit["parent"] == {"id": "company"}
    assert unit["children"] == [
        {
            "id": "dept-tree",
            "name": "Roots",
            "employees": {
                "nodes": [{"email": "persontree1@example.com", "unit": {"id": "dept-tree"}}]
            },
        }
    ]
    assert data["orgTree"]["root"] == {"id": "company", "name": "Company"}
    assert {"id": "dept-tree"} in data["orgTree"]["units"]
    assert data["missing"] == {"__typename": "NotFound"}


async def test_audit_log_for_auditors_only(stack, gql) -> None:
    admin = stack.token()
    hired = _hire(stack, admin, "audited")
    auditor = stack.token(Role.AUDITOR, "company", sub="the-auditor")
    query = """query($target: String) {
      auditLog(first: 10, targetId: $target) {
        __typename
        ... on AuditLogPage { nodes { action targetId actor outcome details { key } } }
        ... on Problem { code }
      }
    }"""

    async def entries():
        return gql.data(query, {"target": hired["id"]}, token=auditor)["auditLog"]

    page = await eventually(entries, lambda p: p.get("nodes"), what="the hire in the audit log")
    assert page["nodes"][0]["action"] == "employee.hired"
    assert page["nodes"][0]["actor"] == "test-admin"
    employee = stack.token(Role.EMPLOYEE, "company", sub=hired["id"])
    refused = gql.data(query, {"target": hired["id"]}, token=employee)["auditLog"]
    assert refused == {"__typename": "Forbidden", "code": "not_auditor"}


def test_one_identity_call_per_level_for_a_hundred_employees(stack, gql, proxy) -> None:
    admin = stack.token()
    create_unit(stack.identity.url, admin, "dept-batch", name="Batch")
    managers = [_hire(stack, admin, f"mgr{n}", unit_id="dept-batch") for n in range(3)]
    for n in range(100):
        _hire(stack, admin, f"batch{n}", unit_id="dept-batch", manager_id=managers[n % 3]["id"])
    proxy.reset()
    data = gql.data(
        """query {
          employees(first: 100, unitId: "dept-batch", search: "personbatch") {
            ... on EmployeeConnection {
              nodes { id unit { name } manager { id unit { name } manager { id } } }
            }
          }
        }""",
        token=admin,
    )
    nodes = data["employees"]["nodes"]
    assert len(nodes) == 100
    assert all(n["manager"]["unit"]["name"] == "Batch" for n in nodes)
    # Level 1: the list. Level 2: the tree (units) and one batch of managers. Level 3 (the
    # managers' managers) asks for nothing new: they have none.
    assert proxy.count("GET", "/v1/employees") == 1
    assert proxy.count("POST", "/v1/employees/batch-get") == 1
    assert proxy.count("GET", "/v1/org-units") == 1
    assert sum(proxy.calls.values()) == 3, proxy.calls


def _cycles_collected(gateway_url: str) -> float:
    """Objects the gateway's cycle collector has freed so far (prometheus' GC collector)."""
    metrics = httpx.get(f"{gateway_url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("python_gc_objects_collected_total{")
    )


def test_queries_leave_nothing_to_the_cycle_collector(stack, gql) -> None:
    # A query's objects are freed as it ends. The gateway runs full collections rarely
    # (chorus_kit.web); each query used to leave ~400 objects in reference cycles (its
    # executor, its loaders), which made those collections its slowest requests.
    admin = stack.token()
    create_unit(stack.identity.url, admin, "dept-cycles", name="Cycles")
    boss = _hire(stack, admin, "cyclesboss", unit_id="dept-cycles")
    for n in range(20):
        _hire(stack, admin, f"cycles{n}", unit_id="dept-cycles", manager_id=boss["id"])
    query = """query {
      employees(first: 30, unitId: "dept-cycles") {
        ... on EmployeeConnection { nodes { id displayName unit { name } manager { id } } }
      }
    }"""
    assert len(gql.data(query, token=admin)["employees"]["nodes"]) == 21
    before = _cycles_collected(stack.gateway.url)
    for _ in range(60):
        assert len(gql.data(query, token=admin)["employees"]["nodes"]) == 21
    collected = _cycles_collected(stack.gateway.url) - before
    assert collected < 60 * 20, f"{collected:.0f} objects left in cycles by 60 queries"


def test_direct_reports_of_a_level_in_one_identity_call(stack, gql, proxy) -> None:
    admin = stack.token()
    create_unit(stack.identity.url, admin, "dept-mgrs", name="Managers")
    create_unit(stack.identity.url, admin, "dept-mgrs-away", name="Away")
    managers = [_hire(stack, admin, f"rmgr{n}", unit_id="dept-mgrs") for n in range(4)]
    reports: dict[str, set[str]] = {m["id"]: set() for m in managers}
    for n in range(12):
        manager = managers[n % 3]["id"]  # the fourth manager has nobody
        unit = "dept-mgrs-away" if n % 4 == 0 else "dept-mgrs"
        hired = _hire(stack, admin, f"rrep{n}", unit_id=unit, manager_id=manager)
        reports[manager].add(hired["id"])
    query = """{ employees(unitId: "dept-mgrs", search: "personrmgr", first: 10) {
      ... on EmployeeConnection { nodes { id directReports { id unitId manager { id } } } }
    } }"""
    proxy.reset()
    nodes = gql.data(query, token=admin)["employees"]["nodes"]
    assert {n["id"]: {r["id"] for r in n["directReports"]} for n in nodes} == reports
    assert all(r["manager"]["id"] == n["id"] for n in nodes for r in n["directReports"])
    # The list, then one batch for every manager's reports; their manager is in the list.
    assert proxy.count("GET", "/v1/employees") == 1
    assert proxy.count("POST", "/v1/employees/by-managers") == 1
    assert sum(proxy.calls.values()) == 2, proxy.calls

    # An admin of the managers' unit sees the reports in it, not those of the other unit.
    unit_admin = stack.token(Role.ADMIN, "dept-mgrs", sub="mgrs-admin")
    seen = gql.data(query, token=unit_admin)["employees"]["nodes"]
    assert {r["unitId"] for n in seen for r in n["directReports"]} == {"dept-mgrs"}
    assert sum(len(n["directReports"]) for n in seen) == 9


def test_a_revoked_token_is_refused(stack, gql) -> None:
    admin = stack.token()
    leaver = _hire(stack, admin, "leaver-q")
    theirs = stack.token(Role.EMPLOYEE, "company", sub=leaver["id"])
    assert gql.data("{ me { subject } }", token=theirs)["me"]["subject"] == leaver["id"]
    offboard = httpx.post(
        f"{stack.identity.url}/v1/employees/{leaver['id']}/offboard",
        json={"reason": "left"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert offboard.status_code == 200
    import time

    deadline = time.monotonic() + 15
    while True:
        response = gql.post("{ me { subject } }", token=theirs)
        if response.status_code == 401:
            break
        assert time.monotonic() < deadline, response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "SESSION_REVOKED"
    assert response.headers["www-authenticate"] == "Bearer"
