"""Realistic provisioning sequences against the real service: Microsoft Entra ID (PATCH-based)
and Okta (PUT-based), through to offboarding on Kafka."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from chorus_kit.events.catalogue import EMPLOYEE
from chorus_kit.events.identity import Role
from tests.support.api import bearer, create_unit
from tests.support.kafka import read_topic
from tests.support.polling import eventually

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def identity(ns):
    service = ns.service("identity")
    service.start()
    return service


def provisioning_client(identity_url: str, admin: str, name: str, unit_id: str) -> str:
    response = httpx.post(
        f"{identity_url}/v1/provisioning-clients",
        json={"name": name, "unit_id": unit_id},
        headers=bearer(admin),
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def scim_client(identity_url: str, token: str, media_type: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{identity_url}/scim/v2",
        headers={**bearer(token), "Content-Type": media_type, "Accept": media_type},
        timeout=10,
    )


def events_of(records: list[Any], employee_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (dict(r.headers)["ce_type"].decode(), json.loads(r.value))
        for r in records
        if r.key == employee_id.encode()
    ]


async def test_entra_id_provisioning_sequence(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    create_unit(identity.url, admin, "sub-eu", kind="subsidiary", name="Acme EU")
    token = provisioning_client(identity.url, admin, "Entra ID", "sub-eu")
    scim = scim_client(identity.url, token, "application/scim+json")
    user_name = "Test_User_ab6490ee@testuser.com"

    # Entra looks the person up first, then creates them.
    lookup = scim.get("/Users", params={"filter": f'userName eq "{user_name}"'})
    assert lookup.status_code == 200, lookup.text
    assert lookup.headers["content-type"].startswith("application/scim+json")
    assert lookup.json()["totalResults"] == 0 and lookup.json()["Resources"] == []
    boss = scim.post(
        "/Users",
        json={
            "schemas": [CORE],
            "userName": "boss@testuser.com",
            "name": {"givenName": "Big", "familyName": "Boss"},
            "active": True,
        },
    ).json()
    created = scim.post(
        "/Users",
        json={
            "schemas": [CORE, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": user_name,
            "active": True,
            "displayName": "Test User",
            "emails": [{"primary": True, "type": "work", "value": user_name}],
            "meta": {"resourceType": "User"},
            "name": {
                "formatted": "givenName familyName",
                "familyName": "familyName",
                "givenName": "givenName",
            },
            "title": "Engineer",
            "phoneNumbers": [{"type": "mobile", "value": "+33 6 00 00 00 00"}],
            "addresses": [{"type": "work", "locality": "Paris", "country": "FR"}],
            ENTERPRISE: {
                "employeeNumber": "E-1001",
                "department": "Engineering",
                "manager": {"value": boss["id"]},
            },
        },
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert created.headers["Location"] == user["meta"]["location"]
    assert created.headers["ETag"] == user["meta"]["version"]
    assert user["userName"] == user_name.lower() and user["active"] is True
    assert user["externalId"] == "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"
    assert user["addresses"][0]["locality"] == "Paris"
    assert user[ENTERPRISE]["employeeNumber"] == "E-1001"
    assert user[ENTERPRISE]["organization"] == "Acme EU"
    assert user[ENTERPRISE]["manager"]["value"] == boss["id"]
    assert "phoneNumbers" not in user  # accepted, not kept

    # Entra's PATCHes: capitalised ops, path-less objects, value-filter paths, string booleans.
    patched = scim.patch(
        f"/Users/{user['id']}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Replace", "path": "title", "value": "Staff Engineer"},
                {
                    "op": "Add",
                    "value": {
                        "name.givenName": "Given",
                        f"{ENTERPRISE}:employeeNumber": "E-2002",
                    },
                },
                {"op": "Replace", "path": 'addresses[type eq "work"].locality', "value": "Lyon"},
                {"op": "Remove", "path": f"{ENTERPRISE}:manager", "value": [{"value": boss["id"]}]},
            ],
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["title"] == "Staff Engineer" and body["name"]["givenName"] == "Given"
    assert body["addresses"][0]["locality"] == "Lyon"
    assert body[ENTERPRISE]["employeeNumber"] == "E-2002"
    assert "manager" not in body[ENTERPRISE]

    found = scim.get("/Users", params={"filter": f'userName eq "{user_name.upper()}"'}).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == user["id"]

    deactivated = scim.patch(
        f"/Users/{user['id']}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
    )
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["active"] is False
    record = httpx.get(f"{identity.url}/v1/employees/{user['id']}", headers=bearer(admin)).json()
    assert record["status"] == "offboarded"

    records = await eventually(
        lambda: read_topic(ns.infra.bootstrap, ns.topic(EMPLOYEE.name)),
        lambda r: any(t.endswith("offboarded") for t, _ in events_of(r, user["id"])),
        what="the offboarded event on Kafka",
    )
    events = events_of(records, user["id"])
    assert [t.rsplit(".", 1)[1] for t, _ in events] == [
        "hired",
        "updated",
        "moved",
        "offboarded",
    ]
    offboarded = events[-1][1]
    assert offboarded["reason"] == "deprovisioned by SCIM client Entra ID"
    assert offboarded["unit_id"] == "sub-eu" and offboarded["title"] == "Staff Engineer"

    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    gone = scim.get(f"/Users/{user['id']}")
    assert gone.status_code == 404 and gone.json()["status"] == "404"
    assert (
        scim.get("/Users", params={"filter": f'userName eq "{user_name}"'}).json()["totalResults"]
        == 0
    )
    # The person stays on the books as a leaver, and the email can be reused.
    assert (
        httpx.get(f"{identity.url}/v1/employees/{user['id']}", headers=bearer(admin)).json()[
            "status"
        ]
        == "offboarded"
    )


async def test_okta_provisioning_sequence(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    token = provisioning_client(identity.url, admin, "Okta", "company")
    scim = scim_client(identity.url, token, "application/json")
    lookup = scim.get("/Users", params={"filter": 'userName eq "jo.doe@example.com"'})
    assert lookup.json()["totalResults"] == 0
    okta_user: dict[str, Any] = {
        "schemas": [CORE],
        "userName": "jo.doe@example.com",
        "name": {"givenName": "Jo", "familyName": "Doe"},
        "emails": [{"primary": True, "value": "jo.doe@example.com", "type": "work"}],
        "displayName": "Jo Doe",
        "locale": "en-US",
        "externalId": "00u1abcd",
        "groups": [],
        "password": "never-stored-1!",
        "active": True,
    }
    created = scim.post("/Users", json=okta_user)
    assert created.status_code == 201, created.text
    user = created.json()
    assert "password" not in user and user["externalId"] == "00u1abcd"

    # Okta sends the whole user back with PUT on every change.
    okta_user.update(
        id=user["id"], title="Analyst", name={"givenName": "Joanna", "familyName": "Doe"}
    )
    replaced = scim.put(f"/Users/{user['id']}", json=okta_user)
    assert replaced.status_code == 200, replaced.text
    assert (
        replaced.json()["title"] == "Analyst" and replaced.json()["name"]["givenName"] == "Joanna"
    )
    again = scim.put(f"/Users/{user['id']}", json=okta_user)  # nothing changed: no new version
    assert again.json()["meta"]["version"] == replaced.json()["meta"]["version"]

    okta_user["active"] = False
    deactivated = scim.put(f"/Users/{user['id']}", json=okta_user)
    assert deactivated.status_code == 200 and deactivated.json()["active"] is False
    record = httpx.get(f"{identity.url}/v1/employees/{user['id']}", headers=bearer(admin)).json()
    assert record["status"] == "offboarded"
    assert scim.put(f"/Users/{user['id']}", json=okta_user).status_code == 200  # idempotent

    okta_user["active"] = True
    reactivated = scim.put(f"/Users/{user['id']}", json=okta_user)
    assert reactivated.status_code == 200, reactivated.text
    assert reactivated.json()["id"] == user["id"] and reactivated.json()["active"] is True

    suspended = httpx.post(
        f"{identity.url}/v1/employees/{user['id']}/suspend",
        json={"reason": "leave"},
        headers=bearer(admin),
    )
    assert suspended.status_code == 200, suspended.text
    listed = scim.get("/Users", params={"filter": 'externalId eq "00u1abcd"'}).json()
    assert listed["Resources"][0]["active"] is False
    assert scim.put(f"/Users/{user['id']}", json=okta_user).json()["active"] is True

    records = await eventually(
        lambda: read_topic(ns.infra.bootstrap, ns.topic(EMPLOYEE.name)),
        lambda r: any(t.endswith("reinstated") for t, _ in events_of(r, user["id"])),
        what="the rehire and reinstatement on Kafka",
    )
    assert [t.rsplit(".", 1)[1] for t, _ in events_of(records, user["id"])] == [
        "hired",
        "updated",
        "offboarded",
        "rehired",
        "suspended",
        "reinstated",
    ]
