"""Each identity mutation through the gateway, with its typed failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chorus_kit.events.identity import Role

EMPLOYEE_RESULT = """
  __typename
  ... on Employee { id email title status version unitId managerId
                    roles { role unitId } socialHandles { network handle }
                    scheduledOffboarding { at reason } }
  ... on Problem { code message }
  ... on ValidationFailed { fields { path message } }
"""
UNIT_RESULT = """
  __typename
  ... on OrgUnit { id name kind status parent { id } }
  ... on Problem { code }
"""


def _hire(gql, token, n, **extra):
    variables = {
        "input": {
            "email": f"mut{n}@example.com",
            "givenName": "Mut",
            "familyName": f"Ant {n}",
            "unitId": "company",
            **extra,
        }
    }
    query = (
        "mutation($input: HireEmployeeInput!) "
        f"{{ hireEmployee(input: $input) {{ {EMPLOYEE_RESULT} }} }}"
    )
    return gql.data(query, variables, token=token)["hireEmployee"]


def _mutate(gql, token, call: str, variables=None, result=EMPLOYEE_RESULT):
    name = call.split("(")[0]
    data = gql.data(f"mutation {{ {call} {{ {result} }} }}", variables, token=token)
    return data[name]


def test_org_unit_lifecycle(stack, gql) -> None:
    admin = stack.token()
    created = gql.data(
        f"""mutation {{ createOrgUnit(input: {{name: "Sales", kind: SUBSIDIARY,
            parentId: "company", id: "sub-sales"}}) {{ {UNIT_RESULT} }} }}""",
        token=admin,
    )["createOrgUnit"]
    assert created == {
        "__typename": "OrgUnit",
        "id": "sub-sales",
        "name": "Sales",
        "kind": "SUBSIDIARY",
        "status": "open",
        "parent": {"id": "company"},
    }
    dept = _mutate(
        gql,
        admin,
        'createOrgUnit(input: {name: "Field", kind: DEPARTMENT, parentId: "sub-sales", '
        'id: "dept-field"})',
        result=UNIT_RESULT,
    )
    assert dept["parent"] == {"id": "sub-sales"}
    renamed = _mutate(
        gql, admin, 'renameOrgUnit(id: "dept-field", name: "Field Sales")', result=UNIT_RESULT
    )
    assert renamed["name"] == "Field Sales"
    moved = _mutate(
        gql, admin, 'moveOrgUnit(id: "dept-field", parentId: "company")', result=UNIT_RESULT
    )
    assert moved["parent"] == {"id": "company"}
    closed = _mutate(gql, admin, 'closeOrgUnit(id: "dept-field")', result=UNIT_RESULT)
    assert closed["status"] == "closed"
    again = _mutate(gql, admin, 'closeOrgUnit(id: "dept-field")', result=UNIT_RESULT)
    assert again["__typename"] == "Conflict"
    missing = _mutate(gql, admin, 'renameOrgUnit(id: "nope", name: "x")', result=UNIT_RESULT)
    assert missing == {"__typename": "NotFound", "code": "unit_not_found"}
    employee = stack.token(Role.EMPLOYEE, "company", sub="someone")
    refused = _mutate(
        gql,
        employee,
        'createOrgUnit(input: {name: "X", kind: DEPARTMENT, parentId: "company"})',
        result=UNIT_RESULT,
    )
    assert refused == {"__typename": "Forbidden", "code": "not_admin_of_unit"}


def test_joiner_mover_leaver_through_the_gateway(stack, gql) -> None:
    admin = stack.token()
    _mutate(
        gql,
        admin,
        'createOrgUnit(input: {name: "Ops", kind: DEPARTMENT, '
        'parentId: "company", id: "dept-ops"})',
        result=UNIT_RESULT,
    )
    boss = _hire(gql, admin, "boss")
    hired = _hire(
        gql,
        admin,
        1,
        title="Engineer",
        roles=[{"role": "EMPLOYEE", "unitId": "company"}],
        socialHandles=[{"network": "LINKEDIN", "handle": "mut-1"}],
    )
    assert hired["__typename"] == "Employee" and hired["status"] == "ACTIVE"
    assert hired["socialHandles"] == [{"network": "LINKEDIN", "handle": "mut-1"}]
    person = hired["id"]

    duplicate = _hire(gql, admin, 1)
    assert duplicate["__typename"] == "Conflict"
    invalid = _hire(gql, admin, "bad", email="not-an-email")
    assert invalid["__typename"] == "ValidationFailed"
    assert any("email" in f["path"] for f in invalid["fields"])

    updated = gql.data(
        f"""mutation($id: ID!, $v: Int) {{
          updateEmployeeProfile(id: $id, input: {{title: null, location: "Lyon"}},
                                expectedVersion: $v) {{ {EMPLOYEE_RESULT} }} }}""",
        {"id": person, "v": hired["version"]},
        token=admin,
    )["updateEmployeeProfile"]
    assert updated["__typename"] == "Employee" and updated["title"] is None
    stale = gql.data(
        f"""mutation($id: ID!, $v: Int) {{
          updateEmployeeProfile(id: $id, input: {{location: "Paris"}}, expectedVersion: $v)
          {{ {EMPLOYEE_RESULT} }} }}""",
        {"id": person, "v": hired["version"]},
        token=admin,
    )["updateEmployeeProfile"]
    assert stale["__typename"] == "Conflict" and stale["code"] == "version_mismatch"

    moved = _mutate(
        gql, admin, f'moveEmployee(id: "{person}", unitId: "dept-ops", managerId: "{boss["id"]}")'
    )
    assert moved["unitId"] == "dept-ops" and moved["managerId"] == boss["id"]
    roles = _mutate(
        gql,
        admin,
        f'changeEmployeeRoles(id: "{person}", roles: [{{role: COMMS, unitId: "dept-ops"}}])',
    )
    assert roles["roles"] == [{"role": "COMMS", "unitId": "dept-ops"}]
    suspended = _mutate(gql, admin, f'suspendEmployee(id: "{person}", reason: "leave")')
    assert suspended["status"] == "SUSPENDED"
    twice = _mutate(gql, admin, f'suspendEmployee(id: "{person}", reason: "leave")')
    assert twice["__typename"] == "Conflict"
    reinstated = _mutate(gql, admin, f'reinstateEmployee(id: "{person}")')
    assert reinstated["status"] == "ACTIVE"

    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    scheduled = gql.data(
        f"""mutation($id: ID!, $at: DateTime) {{
          offboardEmployee(id: $id, reason: "moving on", at: $at) {{ {EMPLOYEE_RESULT} }} }}""",
        {"id": person, "at": later},
        token=admin,
    )["offboardEmployee"]
    assert scheduled["status"] == "ACTIVE"
    assert scheduled["scheduledOffboarding"]["reason"] == "moving on"
    cancelled = _mutate(gql, admin, f'cancelScheduledOffboarding(id: "{person}")')
    assert cancelled["scheduledOffboarding"] is None
    gone = _mutate(gql, admin, f'offboardEmployee(id: "{person}", reason: "left")')
    assert gone["status"] == "OFFBOARDED"
    back = _mutate(gql, admin, f'rehireEmployee(id: "{person}", input: {{unitId: "company"}})')
    assert back["status"] == "ACTIVE" and back["unitId"] == "company"

    nobody = _mutate(gql, admin, 'reinstateEmployee(id: "no-such-person")')
    assert nobody["__typename"] == "NotFound"
    # (The boss, never suspended: a token of someone just reinstated could be older than
    # their last revocation, to the second.)
    employee = stack.token(Role.EMPLOYEE, "company", sub=boss["id"])
    refused = _mutate(gql, employee, f'suspendEmployee(id: "{person}", reason: "no")')
    assert refused["__typename"] == "Forbidden"
