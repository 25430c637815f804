"""The SCIM PATCH engine: RFC operations, value-filter paths, path-less objects, provider quirks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from scim2_models import Error, Group, SCIMException

from chorus_kit.events.identity import EmploymentStatus, UnitKind
from identity.domain.model import Employee
from identity.domain.org_units import OrgTree, OrgUnit
from identity.domain.scim_patch import apply_patch, normalise_patch
from identity.domain.scim_resources import (
    ChorusEnterpriseUser,
    Member,
    ScimUser,
    employee_fields,
    group_resource,
    requested_fields,
    requested_member_ids,
    user_resource,
)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TREE = OrgTree([OrgUnit(id="company", name="Acme", kind=UnitKind.COMPANY, parent_id=None)])
ANN = Employee(
    id="e-1",
    email="ann@acme.io",
    given_name="Ann",
    family_name="Lee",
    unit_id="company",
    manager_id="m-1",
    manager_chain=("m-1",),
    roles=(),
    status=EmploymentStatus.ACTIVE,
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    title="Engineer",
    employee_number="7",
    external_id="ext-1",
    sequence=4,
)


def patched_user(*operations: dict[str, Any]) -> ScimUser:
    resource = user_resource(ANN, TREE, home="company", base_url="")
    return apply_patch(resource, {"schemas": [PATCH], "Operations": list(operations)})


def scim_error(exc: BaseException) -> Error:
    if isinstance(exc, SCIMException):
        return exc.to_error()
    assert isinstance(exc, ValidationError)
    return Error.from_validation_errors(exc)[0]


PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_capitalised_ops_and_string_booleans_as_entra_sends_them() -> None:
    user = patched_user(
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": "title", "value": "Lead"},
    )
    assert user.active is False
    assert user.title == "Lead"
    assert patched_user({"op": "REPLACE", "path": "active", "value": "True"}).active is True


def test_an_operation_without_path_takes_an_object_of_attributes() -> None:
    user = patched_user(
        {
            "op": "Replace",
            "value": {
                "active": "False",
                "name.givenName": "Anna",
                "title": "Lead",
                f"{ENTERPRISE}:employeeNumber": "8",
                'emails[type eq "work"].value': "anna@acme.io",
            },
        }
    )
    wanted = requested_fields(user, current=employee_fields(ANN))
    assert (wanted.given_name, wanted.title, wanted.employee_number) == ("Anna", "Lead", "8")
    assert wanted.email == "anna@acme.io"
    assert wanted.active is False


def test_value_filter_paths_replace_the_matching_value() -> None:
    user = patched_user(
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "ann.lee@acme.io"}
    )
    assert user.emails is not None and str(user.emails[0].value) == "ann.lee@acme.io"
    assert requested_fields(user, current=employee_fields(ANN)).email == "ann.lee@acme.io"


def test_a_value_filter_matching_nothing_adds_the_value_it_describes() -> None:
    user = patched_user(
        {"op": "add", "path": 'addresses[type eq "work"].locality', "value": "Lyon"}
    )
    assert requested_fields(user, current=employee_fields(ANN)).location == "Lyon"


def test_the_manager_as_a_bare_id_and_its_removal_with_a_value() -> None:
    user = patched_user({"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "m-2"})
    assert requested_fields(user, current=employee_fields(ANN)).manager_id == "m-2"
    removed = patched_user(
        {"op": "Remove", "path": f"{ENTERPRISE}:manager", "value": [{"value": "m-1"}]}
    )
    assert requested_fields(removed, current=employee_fields(ANN)).manager_id is None
    nested = patched_user({"op": "replace", "value": {ENTERPRISE: {"manager": "m-3"}}})
    assert nested[ChorusEnterpriseUser] is not None
    assert requested_fields(nested, current=employee_fields(ANN)).manager_id == "m-3"


def test_remove_clears_an_attribute_and_the_source_is_left_alone() -> None:
    user = patched_user({"op": "remove", "path": "title"})
    assert user.title is None
    assert ANN.title == "Engineer"
    assert requested_fields(user, current=employee_fields(ANN)).title is None


def test_operations_apply_all_or_none() -> None:
    resource = user_resource(ANN, TREE, home="company", base_url="")
    with pytest.raises((SCIMException, ValidationError)):
        apply_patch(
            resource,
            {
                "Operations": [
                    {"op": "replace", "path": "title", "value": "Lead"},
                    {"op": "replace", "path": 'emails[type eq "home"].display', "value": "x"},
                    {"op": "replace", "path": 'emails[value co "@"]', "value": 5},
                ]
            },
        )
    assert resource.title == "Engineer"


def test_keys_in_any_case_and_a_missing_schemas() -> None:
    body = normalise_patch({"operations": [{"Op": "replace", "Path": "title", "Value": "X"}]})
    assert body == {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "title", "value": "X"}],
    }


@pytest.mark.parametrize(
    ("operations", "scim_type"),
    [
        ([{"op": "replace", "path": "favouriteColour", "value": "red"}], "invalidPath"),
        ([{"op": "replace", "value": {"favouriteColour": "red"}}], "invalidValue"),
        ([{"op": "replace", "path": "id", "value": "other"}], "mutability"),
        ([{"op": "replace", "path": "groups", "value": [{"value": "g"}]}], "mutability"),
        ([{"op": "remove", "path": "userName"}], "mutability"),
        ([{"op": "remove"}], "noTarget"),
        ([{"op": "copy", "path": "title", "value": "x"}], "invalidValue"),
        ([{"op": "replace", "path": 'emails[type eq "work"', "value": "x"}], "invalidPath"),
        ([{"op": "replace", "path": "active", "value": "maybe"}], "invalidValue"),
        ([], "invalidValue"),
    ],
)
def test_bad_operations_answer_the_rfc_error_type(
    operations: list[dict[str, Any]], scim_type: str
) -> None:
    with pytest.raises((SCIMException, ValidationError)) as caught:
        patched_user(*operations)
    error = scim_error(caught.value)
    assert (error.status, error.scim_type) == (400, scim_type)


def test_group_membership_patches_as_entra_and_okta_send_them() -> None:
    group = group_resource(
        OrgUnit(id="g-1", name="Sales", kind=UnitKind.DEPARTMENT, parent_id="company"),
        [Member(id="u-1", display="U One"), Member(id="u-2", display="U Two")],
        base_url="",
    )

    def members_after(*operations: dict[str, Any]) -> list[str]:
        return requested_member_ids(apply_patch(group, {"Operations": list(operations)}))

    assert members_after({"op": "Add", "path": "members", "value": [{"value": "u-3"}]}) == [
        "u-1",
        "u-2",
        "u-3",
    ]
    assert members_after({"op": "Remove", "path": "members", "value": [{"value": "u-1"}]}) == [
        "u-2"
    ]
    assert members_after({"op": "remove", "path": 'members[value eq "u-2"]'}) == ["u-1"]
    assert members_after({"op": "replace", "path": "members", "value": [{"value": "u-9"}]}) == [
        "u-9"
    ]
    renamed = apply_patch(group, {"Operations": [{"op": "Replace", "value": {"displayName": "X"}}]})
    assert isinstance(renamed, Group) and renamed.display_name == "X"
