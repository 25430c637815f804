"""The SCIM API against the real service: groups as org units, filtered and paged lists on the
real database, ETags, SCIM error answers for bad input, and provisioning-client tokens."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit, hire
from tests.support.polling import eventually

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def identity(ns):
    service = ns.service("identity")
    service.start()
    return service


def new_client(identity_url: str, admin: str, unit_id: str = "company") -> dict[str, Any]:
    response = httpx.post(
        f"{identity_url}/v1/provisioning-clients",
        json={"name": f"IdP for {unit_id}", "unit_id": unit_id},
        headers=bearer(admin),
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def scim_client(identity_url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{identity_url}/scim/v2",
        headers={**bearer(token), "Content-Type": "application/scim+json"},
        timeout=10,
    )


def create_user(scim: httpx.Client, user_name: str, given: str, family: str, **extra: Any) -> Any:
    body = {
        "schemas": [CORE, ENTERPRISE],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        **extra,
    }
    response = scim.post("/Users", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def assert_scim_error(response: httpx.Response, status: int, scim_type: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    assert body.get("scimType") == scim_type


def patch(scim: httpx.Client, path: str, *operations: dict[str, Any], **headers: str) -> Any:
    return scim.patch(
        path, json={"schemas": [PATCH_OP], "Operations": list(operations)}, headers=headers
    )


def test_groups_are_org_units_and_a_user_is_in_one_group(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    scim = scim_client(identity.url, new_client(identity.url, admin)["token"])
    ann = create_user(scim, "ann@acme.io", "Ann", "Lee")
    bob = create_user(scim, "bob@acme.io", "Bob", "Ray")

    sales = scim.post(
        "/Groups",
        json={"schemas": [GROUP], "displayName": "Sales", "members": [{"value": ann["id"]}]},
    )
    assert sales.status_code == 201, sales.text
    sales_id = sales.json()["id"]
    assert [m["value"] for m in sales.json()["members"]] == [ann["id"]]
    unit = httpx.get(f"{identity.url}/v1/org-units/{sales_id}", headers=bearer(admin)).json()
    assert (unit["name"], unit["kind"], unit["parent_id"]) == ("Sales", "department", "company")
    duplicate = scim.post("/Groups", json={"schemas": [GROUP], "displayName": "sales"})
    assert_scim_error(duplicate, 409, "uniqueness")
    press = scim.post("/Groups", json={"schemas": [GROUP], "displayName": "Press"}).json()

    in_sales = scim.get(f"/Users/{ann['id']}").json()
    assert in_sales["groups"][0]["value"] == sales_id
    assert in_sales[ENTERPRISE]["department"] == "Sales"
    found = scim.get("/Groups", params={"filter": 'displayName eq "SALES"'}).json()
    assert [g["id"] for g in found["Resources"]] == [sales_id]
    slim = scim.get(f"/Groups/{sales_id}", params={"excludedAttributes": "members"}).json()
    assert "members" not in slim and slim["displayName"] == "Sales"

    second = patch(
        scim,
        f"/Groups/{press['id']}",
        {"op": "Add", "path": "members", "value": [{"value": ann["id"]}]},
    )
    assert_scim_error(second, 400, "invalidValue")

    # Entra removes a member with a value; the person goes back to the client's home unit.
    removed = patch(
        scim,
        f"/Groups/{sales_id}",
        {"op": "Remove", "path": "members", "value": [{"value": ann["id"]}]},
    )
    assert removed.status_code == 200, removed.text
    assert removed.json().get("members", []) == []
    employee = httpx.get(f"{identity.url}/v1/employees/{ann['id']}", headers=bearer(admin)).json()
    assert employee["unit_id"] == "company"
    joined = patch(
        scim,
        f"/Groups/{press['id']}",
        {"op": "add", "path": "members", "value": [{"value": ann["id"]}, {"value": bob["id"]}]},
        {"op": "Replace", "path": "displayName", "value": "Press Office"},
    )
    assert joined.status_code == 200, joined.text
    assert sorted(m["value"] for m in joined.json()["members"]) == sorted([ann["id"], bob["id"]])
    assert joined.json()["displayName"] == "Press Office"

    replaced = scim.put(
        f"/Groups/{press['id']}",
        json={"schemas": [GROUP], "displayName": "Press Office", "members": [{"value": bob["id"]}]},
    )
    assert [m["value"] for m in replaced.json()["members"]] == [bob["id"]]
    assert scim.get(f"/Users/{ann['id']}").json().get("groups") is None

    assert scim.delete(f"/Groups/{press['id']}").status_code == 204
    assert_scim_error(scim.get(f"/Groups/{press['id']}"), 404, None)
    closed = httpx.get(f"{identity.url}/v1/org-units/{press['id']}", headers=bearer(admin)).json()
    assert closed["status"] == "closed"
    bob_now = httpx.get(f"{identity.url}/v1/employees/{bob['id']}", headers=bearer(admin)).json()
    assert bob_now["unit_id"] == "company"


def test_lists_filter_sort_and_page_on_the_database(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    scim = scim_client(identity.url, new_client(identity.url, admin)["token"])
    people = [
        ("ann@acme.io", "Ann", "Lee", "Engineer", "7"),
        ("bob@acme.io", "Bob", "Ray", "Engineer", "8"),
        ("cy.d+e@beta.org", "Cy", "Dee", "Lawyer", "9"),
        ("dan@acme.io", "Dan", "Abe", None, "10"),
        ("eve@beta.org", "Eve", "Zed", "Analyst", "11"),
    ]
    ids = {}
    for email, given, family, title, number in people:
        extra: dict[str, Any] = {ENTERPRISE: {"employeeNumber": number}}
        if title:
            extra["title"] = title
        ids[given] = create_user(scim, email, given, family, **extra)["id"]
    later = scim.get(f"/Users/{ids['Eve']}").json()["meta"]["lastModified"]
    patch(scim, f"/Users/{ids['Eve']}", {"op": "replace", "path": "title", "value": "Lead"})

    def names(filter_text: str, **params: Any) -> list[str]:
        response = scim.get("/Users", params={"filter": filter_text, **params})
        assert response.status_code == 200, response.text
        return sorted(r["name"]["givenName"] for r in response.json()["Resources"])

    assert names('userName eq "BOB@acme.io"') == ["Bob"]
    assert names('userName ne "bob@acme.io"') == ["Ann", "Cy", "Dan", "Eve"]
    assert names('emails.value co "+e@"') == ["Cy"]
    assert names('userName sw "c"') == ["Cy"]
    assert names('userName ew "@BETA.ORG"') == ["Cy", "Eve"]
    assert names("title pr") == ["Ann", "Bob", "Cy", "Eve"]
    assert names('name.familyName gt "Lee"') == ["Bob", "Eve"]
    assert names('name.familyName ge "Lee"') == ["Ann", "Bob", "Eve"]
    assert names('name.familyName lt "Dee"') == ["Dan"]
    assert names('name.familyName le "Dee"') == ["Cy", "Dan"]
    assert names('title eq "engineer" and not (name.givenName eq "ann")') == ["Bob"]
    assert names('title eq "Lawyer" or title eq "Engineer" and userName sw "b"') == ["Bob", "Cy"]
    assert names('(title eq "Lawyer" or title eq "Engineer") and userName sw "b"') == ["Bob"]
    assert names('emails[type eq "work" and value ew "acme.io"]') == ["Ann", "Bob", "Dan"]
    assert names(f'{ENTERPRISE}:employeeNumber eq "9"') == ["Cy"]
    assert names(f'meta.lastModified gt "{later}"') == ["Eve"]
    assert names('title co ".*"') == []  # metacharacters match literally
    assert names("active eq true") == ["Ann", "Bob", "Cy", "Dan", "Eve"]
    renamed = patch(
        scim,
        f"/Users/{ids['Ann']}",
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "Ann.Lee@acme.io"},
    )
    assert renamed.json()["userName"] == "ann.lee@acme.io"
    assert names('userName eq "ann.lee@acme.io"') == ["Ann"]

    def page(**params: Any) -> dict[str, Any]:
        response = scim.get("/Users", params={"sortBy": "name.familyName", **params})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    first = page(startIndex=1, count=2)
    assert (first["totalResults"], first["startIndex"], first["itemsPerPage"]) == (5, 1, 2)
    assert [r["name"]["familyName"] for r in first["Resources"]] == ["Abe", "Dee"]
    assert [r["name"]["familyName"] for r in page(startIndex=3, count=2)["Resources"]] == [
        "Lee",
        "Ray",
    ]
    assert [r["name"]["familyName"] for r in page(startIndex=5, count=2)["Resources"]] == ["Zed"]
    descending = page(sortOrder="descending", count=1)["Resources"]
    assert [r["name"]["familyName"] for r in descending] == ["Zed"]
    counted = page(count=0)
    assert counted["totalResults"] == 5 and counted["Resources"] == []
    trimmed = page(count=1, attributes="userName")["Resources"][0]
    assert set(trimmed) <= {"schemas", "id", "userName", "meta"} and "userName" in trimmed
    searched = scim.post(
        "/Users/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'title eq "Engineer"',
            "sortBy": "userName",
            "count": 10,
        },
    )
    assert [r["userName"] for r in searched.json()["Resources"]] == [
        "ann.lee@acme.io",
        "bob@acme.io",
    ]


def test_versions_are_etags_and_if_match_is_honoured(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    scim = scim_client(identity.url, new_client(identity.url, admin)["token"])
    user = create_user(scim, "ann@acme.io", "Ann", "Lee")
    read = scim.get(f"/Users/{user['id']}")
    etag = read.headers["ETag"]
    assert etag == read.json()["meta"]["version"] and etag.startswith('W/"')

    changed = patch(
        scim,
        f"/Users/{user['id']}",
        {"op": "replace", "path": "title", "value": "A"},
        **{"If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] != etag
    stale = patch(
        scim,
        f"/Users/{user['id']}",
        {"op": "replace", "path": "title", "value": "B"},
        **{"If-Match": etag},
    )
    assert_scim_error(stale, 412, None)
    body = {
        "schemas": [CORE],
        "userName": "ann@acme.io",
        "name": {"givenName": "A", "familyName": "L"},
    }
    assert_scim_error(
        scim.put(f"/Users/{user['id']}", json=body, headers={"If-Match": etag}), 412, None
    )
    assert_scim_error(scim.delete(f"/Users/{user['id']}", headers={"If-Match": etag}), 412, None)
    assert scim.get(f"/Users/{user['id']}").json()["title"] == "A"
    fresh = changed.headers["ETag"]
    assert (
        scim.put(f"/Users/{user['id']}", json=body, headers={"If-Match": fresh}).status_code == 200
    )
    assert scim.delete(f"/Users/{user['id']}", headers={"If-Match": "*"}).status_code == 204

    group = scim.post("/Groups", json={"schemas": [GROUP], "displayName": "Ops"})
    renamed = patch(
        scim,
        f"/Groups/{group.json()['id']}",
        {"op": "replace", "path": "displayName", "value": "Ops 2"},
        **{"If-Match": 'W/"stale"'},
    )
    assert_scim_error(renamed, 412, None)


def test_bad_input_gets_a_scim_error_never_a_500(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    token = new_client(identity.url, admin)["token"]
    scim = scim_client(identity.url, token)
    user = create_user(scim, "ann@acme.io", "Ann", "Lee")
    user_path = f"/Users/{user['id']}"

    assert_scim_error(
        scim.get("/Users", params={"filter": 'userName eq "a" and'}), 400, "invalidFilter"
    )
    assert_scim_error(
        scim.get("/Users", params={"filter": 'shoeSize gt "9"'}), 400, "invalidFilter"
    )
    assert_scim_error(
        scim.get("/Users", params={"filter": "userName eq 'x'"}), 400, "invalidFilter"
    )
    assert_scim_error(
        scim.get("/Groups", params={"filter": "displayName eq"}), 400, "invalidFilter"
    )
    assert_scim_error(scim.get("/Users", params={"sortBy": "shoeSize"}), 400, "invalidValue")
    assert_scim_error(scim.get("/Users", params={"startIndex": "one"}), 400, "invalidValue")
    assert_scim_error(scim.get("/Users", params={"attributes": "emails[x"}), 400, "invalidPath")

    body = {
        "schemas": [CORE],
        "userName": "zed@acme.io",
        "name": {"givenName": "Z", "familyName": "Z"},
    }
    as_xml = scim.post("/Users", content=b"<user/>", headers={"Content-Type": "application/xml"})
    assert_scim_error(as_xml, 415, None)
    as_text = scim.post("/Users", content=json.dumps(body), headers={"Content-Type": "text/plain"})
    assert_scim_error(as_text, 415, None)
    huge = {**body, "title": "x" * (2 * 1024 * 1024)}
    assert_scim_error(scim.post("/Users", json=huge), 413, None)
    assert_scim_error(scim.post("/Users", content=b'{"userName": '), 400, "invalidSyntax")
    assert_scim_error(scim.post("/Users", content=b"[1, 2]"), 400, "invalidSyntax")
    assert_scim_error(scim.post("/Users", content=b"[" * 100_000), 400, "invalidSyntax")
    assert_scim_error(scim.post("/Users", json={**body, "shoeSize": 44}), 400, "invalidSyntax")
    assert_scim_error(
        scim.post("/Users", json={**body, "userName": "not-an-email"}), 400, "invalidValue"
    )
    assert_scim_error(scim.post("/Users", json={**body, "active": "perhaps"}), 400, "invalidValue")
    assert_scim_error(
        scim.post("/Users", json={**body, "userName": "ANN@acme.io"}), 409, "uniqueness"
    )
    assert_scim_error(
        scim.post("/Users", json={"schemas": [CORE], "userName": "q@acme.io"}), 400, "invalidValue"
    )
    assert_scim_error(
        scim.post("/Users", json={**body, ENTERPRISE: {"manager": {"value": "nobody"}}}),
        400,
        "invalidValue",
    )

    assert_scim_error(
        patch(scim, user_path, {"op": "replace", "path": "shoeSize", "value": 1}),
        400,
        "invalidPath",
    )
    assert_scim_error(
        patch(scim, user_path, {"op": "replace", "value": {"shoeSize": 1}}), 400, "invalidValue"
    )
    assert_scim_error(
        patch(scim, user_path, {"op": "replace", "path": "id", "value": "x"}), 400, "mutability"
    )
    assert_scim_error(patch(scim, user_path, {"op": "remove"}), 400, "noTarget")
    assert_scim_error(patch(scim, user_path, {"op": "move", "path": "title"}), 400, "invalidValue")
    assert_scim_error(scim.patch(user_path, json={"Operations": "all"}), 400, "invalidValue")
    assert_scim_error(scim.get("/Users/no-such-id"), 404, None)
    assert_scim_error(scim.get("/Bulk"), 404, None)
    assert_scim_error(scim.delete("/Users"), 404, None)

    # The discovery endpoints answer in SCIM form too.
    config = scim.get("/ServiceProviderConfig")
    assert config.status_code == 200 and config.json()["patch"]["supported"] is True
    assert [r["id"] for r in scim.get("/ResourceTypes").json()["Resources"]] == ["User", "Group"]
    assert scim.get("/ResourceTypes/User").json()["endpoint"] == "/Users"
    assert scim.get(f"/Schemas/{ENTERPRISE}").json()["name"] == "EnterpriseUser"
    assert scim.get("/Schemas").json()["totalResults"] == 3
    # Nothing above hurt the user.
    assert scim.get(user_path).json()["userName"] == "ann@acme.io"


async def test_client_tokens_are_scoped_hashed_and_revocable(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "sub-a", kind="subsidiary")
    create_unit(identity.url, admin, "sub-b", kind="subsidiary")
    client_a = new_client(identity.url, admin, "sub-a")
    assert client_a["token"].startswith("chorus_scim_") and client_a["active"] is True
    in_b = hire(identity.url, admin, 1, unit_id="sub-b").json()
    scim_a = scim_client(identity.url, client_a["token"])
    ann = create_user(scim_a, "ann@acme.io", "Ann", "Lee")
    assert (
        httpx.get(f"{identity.url}/v1/employees/{ann['id']}", headers=bearer(admin)).json()[
            "unit_id"
        ]
        == "sub-a"
    )

    # Subsidiary A's client cannot see, change or remove anyone in B.
    assert_scim_error(scim_a.get(f"/Users/{in_b['id']}"), 404, None)
    assert [r["id"] for r in scim_a.get("/Users").json()["Resources"]] == [ann["id"]]
    replace = patch(
        scim_a, f"/Users/{in_b['id']}", {"op": "replace", "path": "active", "value": False}
    )
    assert_scim_error(replace, 404, None)
    assert_scim_error(scim_a.delete(f"/Users/{in_b['id']}"), 404, None)
    assert_scim_error(scim_a.get("/Groups/sub-b"), 404, None)
    manager_in_b = {"op": "add", "path": f"{ENTERPRISE}:manager", "value": in_b["id"]}
    assert_scim_error(patch(scim_a, f"/Users/{ann['id']}", manager_in_b), 400, "invalidValue")
    assert (
        httpx.get(f"{identity.url}/v1/employees/{in_b['id']}", headers=bearer(admin)).json()[
            "status"
        ]
        == "active"
    )

    # Only provisioning tokens open /scim/v2; the list shows no secret.
    assert_scim_error(scim_client(identity.url, admin).get("/Users"), 401, None)
    assert_scim_error(httpx.get(f"{identity.url}/scim/v2/Users"), 401, None)
    assert_scim_error(
        scim_client(identity.url, client_a["token"][:-2] + "xx").get("/Users"), 401, None
    )
    listed = httpx.get(f"{identity.url}/v1/provisioning-clients", headers=bearer(admin)).json()
    assert [c["id"] for c in listed] == [client_a["id"]]
    assert "token" not in json.dumps(listed) and client_a["token"] not in json.dumps(listed)

    # Admins create clients only for units they administer; others not at all.
    admin_b = ns.token(Role.ADMIN, "sub-b", sub="admin-b")
    for_a = httpx.post(
        f"{identity.url}/v1/provisioning-clients",
        json={"name": "x", "unit_id": "sub-a"},
        headers=bearer(admin_b),
    )
    assert for_a.status_code == 403
    employee = ns.token(Role.EMPLOYEE, "company", sub="someone")
    assert (
        httpx.get(f"{identity.url}/v1/provisioning-clients", headers=bearer(employee)).status_code
        == 403
    )
    assert (
        httpx.get(f"{identity.url}/v1/provisioning-clients", headers=bearer(admin_b)).json() == []
    )
    assert (
        httpx.delete(
            f"{identity.url}/v1/provisioning-clients/{client_a['id']}", headers=bearer(admin_b)
        ).status_code
        == 403
    )

    revoked = httpx.delete(
        f"{identity.url}/v1/provisioning-clients/{client_a['id']}", headers=bearer(admin)
    )
    assert revoked.status_code == 204
    assert_scim_error(scim_a.get("/Users"), 401, None)
    assert (
        httpx.delete(
            f"{identity.url}/v1/provisioning-clients/{client_a['id']}", headers=bearer(admin)
        ).status_code
        == 409
    )

    async def audit_actions() -> list[str]:
        async with httpx.AsyncClient() as http:
            response = await http.get(
                f"{identity.url}/v1/audit",
                params={"target_id": client_a["id"]},
                headers=bearer(admin),
            )
        return [entry["action"] for entry in response.json()["items"]]

    actions = await eventually(audit_actions, lambda a: len(a) == 2, what="the audit entries")
    assert sorted(actions) == ["provisioning_client.created", "provisioning_client.revoked"]

    async def hire_audited_as_client() -> list[str]:
        async with httpx.AsyncClient() as http:
            response = await http.get(
                f"{identity.url}/v1/audit", params={"target_id": ann["id"]}, headers=bearer(admin)
            )
        return [entry["actor"] for entry in response.json()["items"]]

    actors = await eventually(hire_audited_as_client, bool, what="the hire's audit entry")
    assert actors == [f"scim-client:{client_a['id']}"]
