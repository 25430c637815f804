"""SCIM filters → MongoDB queries: every operator, logic and grouping, paths, bad filters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from scim2_models import InvalidFilterException, InvalidValueException, TooManyException

from identity.domain.scim_filter import (
    GROUP_ATTRIBUTES,
    MATCH_NOTHING,
    USER_ATTRIBUTES,
    AllOf,
    AnyOf,
    AttributePath,
    Comparison,
    Negation,
    escape_regex,
    parse_filter,
    to_mongo,
)

UNITS: dict[str, dict[str, str | None]] = {
    "department": {"d-sales": "Sales", "d-press": "Press (EU)", "company": None},
    "organization": {"d-sales": "Acme", "d-press": "Acme EU", "company": "Acme"},
    "name": {"d-sales": "Sales", "d-press": "Press (EU)", "company": "Acme"},
}
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def users(text: str) -> dict[str, Any]:
    return to_mongo(parse_filter(text), USER_ATTRIBUTES, unit_values=UNITS)


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ('name.givenName eq "Ann"', {"given_name": {"$regex": "^Ann$", "$options": "i"}}),
        (
            'name.givenName ne "Ann"',
            {"$nor": [{"given_name": {"$regex": "^Ann$", "$options": "i"}}]},
        ),
        ('name.givenName co "nn"', {"given_name": {"$regex": "nn", "$options": "i"}}),
        ('name.givenName sw "An"', {"given_name": {"$regex": "^An", "$options": "i"}}),
        ('name.givenName ew "nn"', {"given_name": {"$regex": "nn$", "$options": "i"}}),
        ("name.givenName pr", {"given_name": {"$nin": [None, ""]}}),
        ('name.givenName gt "B"', {"given_name": {"$gt": "B"}}),
        ('name.givenName ge "B"', {"given_name": {"$gte": "B"}}),
        ('name.givenName lt "B"', {"given_name": {"$lt": "B"}}),
        ('name.givenName le "B"', {"given_name": {"$lte": "B"}}),
    ],
)
def test_every_operator_on_a_case_insensitive_string(text: str, query: dict[str, Any]) -> None:
    assert users(text) == query


def test_user_name_compares_case_insensitively_against_the_lower_cased_email() -> None:
    assert users('userName eq "Bjensen@Example.COM"') == {"email": "bjensen@example.com"}
    assert users('userName ne "A@B.C"') == {"email": {"$ne": "a@b.c"}}
    assert users('userName sw "BJ"') == {"email": {"$regex": "^bj"}}
    assert users('emails.value ew "@EXAMPLE.com"') == {"email": {"$regex": "@example\\.com$"}}


def test_case_exact_attributes_compare_exactly() -> None:
    assert users('externalId eq "AbC"') == {"external_id": "AbC"}
    assert users('id eq "x-1"') == {"_id": "x-1"}
    assert users('externalId co "b"') == {"external_id": {"$regex": "b"}}


def test_regex_metacharacters_in_values_are_escaped() -> None:
    assert users('title co "a.b*(c)[d]{e}|f?+^$\\\\"') == {
        "title": {"$regex": "a\\.b\\*\\(c\\)\\[d\\]\\{e\\}\\|f\\?\\+\\^\\$\\\\", "$options": "i"}
    }
    # Only metacharacters: RE2 (FerretDB) refuses escapes of ordinary characters like "-".
    assert escape_regex("a-b c@d#e") == "a-b c@d#e"


def test_and_binds_tighter_than_or_and_parentheses_regroup() -> None:
    ungrouped = parse_filter('title eq "a" or title eq "b" and title eq "c"')
    assert isinstance(ungrouped, AnyOf)
    assert isinstance(ungrouped.terms[1], AllOf)
    grouped = parse_filter('(title eq "a" or title eq "b") and title eq "c"')
    assert isinstance(grouped, AllOf)
    assert isinstance(grouped.terms[0], AnyOf)
    longer = parse_filter('title eq "a" and title eq "b" or title eq "c" and title eq "d"')
    assert isinstance(longer, AnyOf) and all(isinstance(t, AllOf) for t in longer.terms)


def test_logic_translates_to_and_or_nor() -> None:
    query = users('not (title eq "a") and (userName eq "x@y.z" or active eq true)')
    assert query == {
        "$and": [
            {"$nor": [{"title": {"$regex": "^a$", "$options": "i"}}]},
            {"$or": [{"email": "x@y.z"}, {"status": "active"}]},
        ]
    }


def test_not_of_a_group_is_one_negation() -> None:
    expression = parse_filter('not (title eq "a" or title eq "b")')
    assert isinstance(expression, Negation) and isinstance(expression.term, AnyOf)


def test_value_paths_become_conditions_on_the_one_value() -> None:
    assert users('emails[type eq "work"]') == {"email": {"$nin": [None, ""]}}
    assert users('emails[type eq "home"]') == MATCH_NOTHING
    assert users('emails[type eq "work" and value co "@acme"]') == {
        "$and": [{"email": {"$nin": [None, ""]}}, {"email": {"$regex": "@acme"}}]
    }
    assert users('emails[type eq "work"].value eq "A@Acme.io"') == {
        "$and": [{"email": {"$nin": [None, ""]}}, {"email": "a@acme.io"}]
    }
    assert users('addresses[type eq "work"].locality eq "Paris"') == {
        "$and": [
            {"location": {"$nin": [None, ""]}},
            {"location": {"$regex": "^Paris$", "$options": "i"}},
        ]
    }


def test_booleans_accept_literals_and_provider_strings() -> None:
    assert users("active eq true") == {"status": "active"}
    assert users("active eq false") == {"status": {"$ne": "active"}}
    assert users('active eq "False"') == {"status": {"$ne": "active"}}
    assert users("active ne false") == {"status": "active"}
    assert users("active pr") == {}
    assert users("emails.primary eq true") == {"email": {"$nin": [None, ""]}}


def test_date_times_compare_chronologically() -> None:
    moment = datetime(2011, 5, 13, 4, 42, 34, tzinfo=UTC)
    assert users('meta.lastModified gt "2011-05-13T04:42:34Z"') == {"updated_at": {"$gt": moment}}
    assert users('meta.created le "2011-05-13T04:42:34Z"') == {"created_at": {"$lte": moment}}
    assert users('meta.lastModified eq "2011-05-13T04:42:34"') == {"updated_at": moment}


def test_enterprise_attributes_with_and_without_their_urn() -> None:
    assert users(f'{ENTERPRISE}:employeeNumber eq "7"') == {
        "employee_number": {"$regex": "^7$", "$options": "i"}
    }
    assert users('employeeNumber eq "7"') == users(f'{ENTERPRISE}:employeeNumber eq "7"')
    assert users(f'{ENTERPRISE}:manager.value eq "m-1"') == {"manager_id": "m-1"}
    assert users(f'{ENTERPRISE}:manager eq "m-1"') == {"manager_id": "m-1"}
    core = "urn:ietf:params:scim:schemas:core:2.0:User"
    assert users(f'{core}:userName eq "a@b.c"') == {"email": "a@b.c"}


def test_unit_derived_attributes_become_unit_lists() -> None:
    assert users(f'{ENTERPRISE}:department eq "sales"') == {"unit_id": {"$in": ["d-sales"]}}
    assert users(f'{ENTERPRISE}:department co "(eu)"') == {"unit_id": {"$in": ["d-press"]}}
    assert users(f"{ENTERPRISE}:department pr") == {"unit_id": {"$in": ["d-press", "d-sales"]}}
    assert users(f'{ENTERPRISE}:department ne "Sales"') == {
        "unit_id": {"$in": ["company", "d-press"]}
    }
    assert users(f'{ENTERPRISE}:organization sw "Acme"') == {
        "unit_id": {"$in": ["company", "d-press", "d-sales"]}
    }


def test_null_compares_with_eq_and_ne_only() -> None:
    assert users("title eq null") == {"title": None}
    assert users("title ne null") == {"title": {"$ne": None}}
    with pytest.raises(InvalidFilterException):
        users("title co null")


def test_attribute_names_are_case_insensitive() -> None:
    assert users('USERNAME eq "a@b.c"') == users('userName eq "a@b.c"')
    assert users("Name.GivenName pr") == users("name.givenName pr")


def test_parsed_tree_keeps_strings_apart_from_literals() -> None:
    assert parse_filter('title eq "true"') == Comparison(AttributePath(None, "title"), "eq", "true")
    assert parse_filter("title eq true") == Comparison(AttributePath(None, "title"), "eq", True)


def test_groups_filter_on_their_own_attributes() -> None:
    query = to_mongo(parse_filter('displayName eq "Sales"'), GROUP_ATTRIBUTES)
    assert query == {"name": {"$regex": "^Sales$", "$options": "i"}}
    with pytest.raises(InvalidFilterException):
        to_mongo(parse_filter('members.value eq "x"'), GROUP_ATTRIBUTES)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "userName",
        "userName eq",
        'userName xx "a"',
        'userName eq "a" and',
        '(userName eq "a"',
        'userName eq "a")',
        "userName eq 'a'",
        'userName eq "a\\"b"',
        'emails[type eq "work"',
        'emails[value[type eq "x"] eq "y"]',
        'unknownAttribute eq "x"',
        'nickName eq "x"',
        'urn:example:unknown:2.0:User:userName eq "x"',
        "active gt true",
        'active eq "maybe"',
        'meta.lastModified co "2011"',
        'meta.lastModified gt "yesterday"',
        "title eq 5",
        "(" * 1000 + 'title eq "a"' + ")" * 1000,
    ],
)
def test_bad_filters_are_invalid_filter_errors(text: str) -> None:
    with pytest.raises(InvalidFilterException) as caught:
        users(text)
    assert caught.value.scim_type == "invalidFilter"
    assert caught.value.status == 400


def test_a_filter_with_too_many_comparisons_is_too_many() -> None:
    with pytest.raises(TooManyException) as caught:
        users(" or ".join(["id pr"] * 150))
    assert (caught.value.status, caught.value.scim_type) == (400, "tooMany")


def test_deep_nesting_within_the_length_limit_still_parses() -> None:
    assert users("(" * 400 + 'title eq "a"' + ")" * 400) == users('title eq "a"')
    negated = users("not (" * 150 + 'title eq "a"' + ")" * 150)
    depth = 0
    while "$nor" in negated:
        negated, depth = negated["$nor"][0], depth + 1
    assert depth == 150 and negated == users('title eq "a"')


def test_sorting_names_a_stored_field_or_is_refused() -> None:
    assert USER_ATTRIBUTES.sort_field("name.familyName") == "family_name"
    assert USER_ATTRIBUTES.sort_field("userName") == "email"
    assert USER_ATTRIBUTES.sort_field("meta.lastModified") == "updated_at"
    assert USER_ATTRIBUTES.sort_field(f"{ENTERPRISE}:employeeNumber") == "employee_number"
    for unsortable in ("active", "emails.type", f"{ENTERPRISE}:department", "nope", "a b"):
        with pytest.raises(InvalidValueException):
            USER_ATTRIBUTES.sort_field(unsortable)
