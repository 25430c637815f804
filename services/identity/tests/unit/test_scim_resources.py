"""Employee ↔ SCIM User, OrgUnit ↔ Group, discovery documents, provisioning-client tokens."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from scim2_models import Context, Email, InvalidValueException, Name

from chorus_kit.errors import Conflict
from chorus_kit.events.identity import EmploymentStatus, Role, UnitKind
from identity.domain import scim_clients
from identity.domain.model import Employee
from identity.domain.org_units import OrgTree, OrgUnit
from identity.domain.scim_discovery import resource_types, schemas, service_provider_config
from identity.domain.scim_resources import (
    ChorusEnterpriseUser,
    Member,
    ScimUser,
    employee_fields,
    group_resource,
    group_version,
    placement,
    profile_changes,
    requested_fields,
    unit_values,
    user_resource,
)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TREE = OrgTree(
    [
        OrgUnit(id="company", name="Acme", kind=UnitKind.COMPANY, parent_id=None),
        OrgUnit(id="sub-eu", name="Acme EU", kind=UnitKind.SUBSIDIARY, parent_id="company"),
        OrgUnit(id="eu-press", name="Press", kind=UnitKind.DEPARTMENT, parent_id="sub-eu"),
    ]
)
ANN = Employee(
    id="e-1",
    email="ann@acme.io",
    given_name="Ann",
    family_name="Lee",
    unit_id="eu-press",
    manager_id="m-1",
    manager_chain=("m-1",),
    roles=(),
    status=EmploymentStatus.ACTIVE,
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    title="Engineer",
    location="Lyon",
    employee_number="7",
    external_id="ext-1",
    sequence=4,
    created_at=datetime(2024, 1, 1, tzinfo=UTC),
    updated_at=datetime(2024, 2, 1, tzinfo=UTC),
)


def test_an_employee_as_a_scim_user_with_the_enterprise_extension() -> None:
    user = user_resource(ANN, TREE, home="sub-eu", base_url="https://h/scim/v2")
    body = user.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    assert body["id"] == "e-1" and body["userName"] == "ann@acme.io"
    assert body["externalId"] == "ext-1"
    assert body["name"] == {"givenName": "Ann", "familyName": "Lee", "formatted": "Ann Lee"}
    assert body["active"] is True and body["title"] == "Engineer"
    assert body["emails"] == [{"value": "ann@acme.io", "type": "work", "primary": True}]
    assert body["addresses"] == [{"locality": "Lyon", "type": "work", "primary": True}]
    assert body["groups"] == [
        {
            "value": "eu-press",
            "display": "Press",
            "$ref": "https://h/scim/v2/Groups/eu-press",
            "type": "direct",
        }
    ]
    assert body[ENTERPRISE] == {
        "employeeNumber": "7",
        "department": "Press",
        "organization": "Acme EU",
        "manager": {"value": "m-1", "$ref": "https://h/scim/v2/Users/m-1"},
    }
    assert body["meta"]["version"] == 'W/"4"'
    assert body["meta"]["location"] == "https://h/scim/v2/Users/e-1"
    assert body["meta"]["lastModified"].startswith("2024-02-01")


def test_suspended_and_offboarded_people_are_inactive() -> None:
    for status in (EmploymentStatus.SUSPENDED, EmploymentStatus.OFFBOARDED):
        gone = replace(ANN, status=status)
        assert user_resource(gone, TREE, home="company", base_url="").active is False


def test_the_home_unit_is_no_group_and_organization_falls_back_to_the_company() -> None:
    at_home = replace(ANN, unit_id="company")
    assert user_resource(at_home, TREE, home="company", base_url="").groups is None
    assert placement(TREE, "company", home="company").organization == "Acme"
    assert placement(TREE, "sub-eu", home="company").department is None
    assert unit_values(TREE)["department"] == {
        "company": None,
        "sub-eu": None,
        "eu-press": "Press",
    }


def scim_user(**fields: object) -> ScimUser:
    base: dict[str, object] = {
        "user_name": "ann@acme.io",
        "name": Name(given_name="Ann", family_name="Lee"),
    }
    return ScimUser(**{**base, **fields})


def test_a_changed_user_name_sets_the_email_else_a_changed_work_email_does() -> None:
    current = employee_fields(ANN)
    renamed = scim_user(user_name="Ann.Lee@Acme.io", emails=[Email(value="x@acme.io", type="work")])
    assert requested_fields(renamed, current=current).email == "ann.lee@acme.io"
    new_mail = scim_user(emails=[Email(value="ann.l@acme.io", type="work")])
    assert requested_fields(new_mail, current=current).email == "ann.l@acme.io"
    assert requested_fields(scim_user(), current=current).email == "ann@acme.io"


def test_required_and_malformed_values_are_invalid_values() -> None:
    with pytest.raises(InvalidValueException):
        requested_fields(scim_user(name=Name(given_name="Ann")), current=None)
    with pytest.raises(InvalidValueException):
        requested_fields(scim_user(user_name="not an email"), current=None)
    with pytest.raises(InvalidValueException):
        requested_fields(scim_user(user_name="  "), current=None)


def test_profile_changes_name_only_what_differs_and_clearing_is_a_change() -> None:
    current = employee_fields(ANN)
    user = scim_user(title="Lead", external_id="ext-1")
    user[ChorusEnterpriseUser] = ChorusEnterpriseUser(employee_number="7", manager={"value": "m-1"})
    wanted = requested_fields(user, current=current)
    assert profile_changes(current, wanted) == {"title": "Lead", "location": None}
    assert wanted.manager_id == "m-1" and wanted.active is None


def test_a_group_is_its_unit_and_its_version_follows_membership() -> None:
    unit = TREE.get("eu-press")
    members = [Member(id="e-1", display="Ann Lee")]
    body = group_resource(unit, members, base_url="https://h/scim/v2").model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE
    )
    assert body["id"] == "eu-press" and body["displayName"] == "Press"
    assert body["members"] == [
        {
            "value": "e-1",
            "display": "Ann Lee",
            "type": "User",
            "$ref": "https://h/scim/v2/Users/e-1",
        }
    ]
    assert group_version(unit, ["e-1"]) != group_version(unit, ["e-1", "e-2"])
    assert group_version(unit, ["e-2", "e-1"]) == group_version(unit, ["e-1", "e-2"])


def test_discovery_documents_describe_what_chorus_keeps() -> None:
    config = service_provider_config("https://h/scim/v2")
    assert config["patch"] == {"supported": True}
    assert config["filter"]["supported"] is True and config["etag"] == {"supported": True}
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    assert [r["name"] for r in resource_types("https://h/scim/v2")] == ["User", "Group"]
    published = {s["id"]: s for s in schemas("https://h/scim/v2")}
    user_attributes = {
        a["name"] for a in published["urn:ietf:params:scim:schemas:core:2.0:User"]["attributes"]
    }
    assert {"userName", "name", "emails", "active", "addresses"} <= user_attributes
    assert "phoneNumbers" not in user_attributes
    enterprise = {a["name"]: a for a in published[ENTERPRISE]["attributes"]}
    assert enterprise["department"]["mutability"] == "readOnly"
    assert enterprise["manager"]["mutability"] == "readWrite"


def test_client_tokens_name_their_client_and_only_their_hash_is_kept() -> None:
    command = scim_clients.CreateProvisioningClient(name="Entra ID", unit_id="sub-eu")
    client, token = scim_clients.new_client(command, by="admin-1")
    assert scim_clients.client_id_of(token) == client.id
    assert token not in client.token_hash and len(client.token_hash) == 64
    assert scim_clients.token_matches(client, token)
    assert not scim_clients.token_matches(client, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert scim_clients.client_id_of("eyJhbGciOiJFUzI1NiJ9.e30.sig") is None
    principal = client.principal()
    assert principal.sub == f"scim-client:{client.id}"
    assert [(r.role, r.unit) for r in principal.roles] == [(Role.ADMIN, "sub-eu")]


def test_a_client_is_revoked_once() -> None:
    client, _ = scim_clients.new_client(
        scim_clients.CreateProvisioningClient(name="Okta", unit_id="company"), by="admin-1"
    )
    revoked = scim_clients.revoke(client, by="admin-2")
    assert not revoked.is_active and revoked.revoked_by == "admin-2"
    with pytest.raises(Conflict):
        scim_clients.revoke(revoked, by="admin-2")
