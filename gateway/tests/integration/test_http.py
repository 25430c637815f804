"""GraphQL over HTTP by the book, limits, persisted queries, CORS, masking, and a slow or
absent backend giving a partial answer in time."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import pytest

from chorus_kit.events.identity import Role
from tests.support.graphql import GRAPHQL_RESPONSE, GraphQL
from tests.support.proxy import Rewrite

ME = "{ me { subject } }"


def test_get_and_post_by_the_book(stack, gql) -> None:
    admin = stack.token()
    got = gql.get(ME, token=admin)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert got.json() == {"data": {"me": {"subject": "test-admin"}}}

    mutation = 'mutation { reinstateEmployee(id: "x") { __typename } }'
    refused = gql.get(mutation, token=admin)
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    assert gql.post(mutation, token=admin).status_code == 200

    # A request error: 400 with the new media type, 200 with the legacy one.
    unknown = "{ me { nope } }"
    strict = gql.post(unknown, token=admin)
    assert strict.status_code == 400 and "data" not in strict.json()
    legacy = gql.post(unknown, token=admin, accept="application/json")
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith(
        "application/json"
    )
    assert legacy.json()["errors"][0]["message"].startswith("Cannot query field 'nope'")
    assert gql.post("{ me { ", token=admin).status_code == 400  # syntax
    # `*/*` gets the new media type; a client that says nothing gets the legacy one.
    assert (
        gql.post(ME, token=admin, accept="*/*").headers["content-type"].startswith(GRAPHQL_RESPONSE)
    )
    silent = gql.post(ME, token=admin, accept="")
    assert silent.headers["content-type"].startswith("application/json")
    assert gql.post(ME, token=admin, accept="text/plain").status_code == 406
    wrong_type = httpx.post(
        gql.url,
        content=ME,
        headers={"Content-Type": "text/plain", "Authorization": f"Bearer {admin}"},
    )
    assert wrong_type.status_code == 415
    not_json = httpx.post(gql.url, content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400

    anonymous = gql.post(ME)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "MISSING_TOKEN"
    assert gql.post("{ __typename }").json() == {"data": {"__typename": "Query"}}
    forged = gql.post(ME, token=admin[:-4] + "AAAA")
    assert forged.status_code == 401
    assert forged.json()["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"


def test_depth_alias_token_and_cost_limits(stack, gql) -> None:
    admin = stack.token()
    deep = "{ me { employee " + "{ manager " * 10 + "{ id }" + " }" * 10 + " } }"
    too_deep = gql.post(deep, token=admin)
    assert too_deep.status_code == 400
    assert "exceeds maximum operation depth" in too_deep.json()["errors"][0]["message"]

    aliases = "{ " + " ".join(f"a{n}: me {{ subject }}" for n in range(25)) + " }"
    too_many = gql.post(aliases, token=admin)
    assert too_many.status_code == 400
    assert "aliases" in too_many.json()["errors"][0]["message"]

    tokens = "{ me { " + "subject " * 2100 + "} }"
    too_long = gql.post(tokens, token=admin)
    assert too_long.status_code == 400
    assert "token" in too_long.json()["errors"][0]["message"].lower()

    costly = """{ orgTree { ... on OrgTreeView { units {
        employees(first: 100) { ... on EmployeeConnection { nodes { managementChain { id } } } }
    } } } }"""
    refused = gql.post(costly, token=admin)
    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["cost"] > error["extensions"]["maxCost"]


def test_cost_budget_and_request_timeout(stack, proxy) -> None:
    limited = stack.start_gateway(
        instance="limited",
        CHORUS_COST_BUDGET_CAPACITY="300",
        CHORUS_COST_BUDGET_PER_SECOND="1",
        CHORUS_REQUEST_TIMEOUT_SECONDS="1",
        CHORUS_BACKEND_TIMEOUT_SECONDS="5",
    )
    gql = GraphQL(limited.url)
    admin = stack.token(sub="budget-user")
    big = "{ employees(first: 100) { ... on EmployeeConnection { nodes { unit { id } } } } }"
    assert gql.post(big, token=admin).status_code == 200
    spent = gql.post(big, token=admin)
    assert spent.status_code == 429
    assert spent.json()["errors"][0]["extensions"]["code"] == "COST_BUDGET_EXCEEDED"
    assert int(spent.headers["retry-after"]) >= 1
    # Budgets are per person: someone else is not held back.
    other = stack.token(sub="someone-else")
    assert gql.post(big, token=other).status_code == 200

    proxy.delays["/v1/employees"] = 3
    began = time.monotonic()
    slow = gql.post("{ employees(first: 1) { __typename } }", token=stack.token(sub="patient"))
    assert slow.status_code == 504 and time.monotonic() - began < 2.5
    assert slow.json()["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"


def test_production_has_no_introspection_and_no_graphiql(stack, gql) -> None:
    admin = stack.token()
    introspection = "{ __schema { queryType { name } } }"
    assert gql.post(introspection, token=admin).json()["data"]["__schema"]["queryType"] == {
        "name": "Query"
    }
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    ide = httpx.get(gql.url, headers=browser)
    assert ide.status_code == 200 and "graphiql" in ide.text.lower()

    production = stack.start_gateway(instance="prod", CHORUS_ENVIRONMENT="production")
    prod = GraphQL(production.url)
    refused = prod.post(introspection, token=admin)
    assert refused.status_code == 400
    assert "introspection" in refused.json()["errors"][0]["message"].lower()
    no_ide = httpx.get(prod.url, headers=browser)
    assert no_ide.status_code == 400 and "graphiql" not in no_ide.text.lower()


def test_unexpected_errors_are_masked(stack, gql, proxy) -> None:
    proxy.rewrites["/v1/employees"] = Rewrite(200, b'{"items": [{"id": "x"}], "next_cursor": null}')
    response = gql.post(
        "{ employees(first: 1) { __typename } }", token=stack.token(), accept="application/json"
    )
    body = response.json()
    assert response.status_code == 200 and body["data"] is None
    assert body["errors"][0]["message"] == "Unexpected error."
    text = json.dumps(body)
    assert "KeyError" not in text and "Traceback" not in text and "email" not in text


def test_automatic_persisted_queries(stack, gql) -> None:
    admin = stack.token()
    query = "query Mine { me { subject } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}

    unknown = gql.post(None, extensions=persisted, token=admin)
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    legacy = gql.post(None, extensions=persisted, token=admin, accept="application/json")
    assert legacy.status_code == 200 and "errors" in legacy.json()

    registered = gql.post(query, extensions=persisted, token=admin)
    assert registered.json() == {"data": {"me": {"subject": "test-admin"}}}
    by_hash = gql.post(None, extensions=persisted, token=admin)
    assert by_hash.json() == {"data": {"me": {"subject": "test-admin"}}}
    by_get = gql.get(None, extensions=persisted, token=admin)
    assert by_get.status_code == 200 and by_get.json()["data"]["me"]["subject"] == "test-admin"

    wrong = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    mismatch = gql.post(query, extensions=wrong, token=admin)
    assert mismatch.status_code == 400
    assert mismatch.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"


def test_cors_for_configured_origins_only(stack, gql) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            gql.url,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    allowed = preflight("https://web.example.com")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://web.example.com"
    other = preflight("https://evil.example.com")
    assert "access-control-allow-origin" not in other.headers


def test_a_slow_backend_part_is_a_typed_error_not_a_hung_request(stack, gql, proxy) -> None:
    auditor = stack.token(Role.AUDITOR, "company", sub="slow-auditor")
    proxy.delays["/v1/audit"] = 5
    began = time.monotonic()
    response = gql.post(
        """{ me { subject }
             auditLog { __typename ... on ServiceUnavailable { service code } } }""",
        token=auditor,
    )
    elapsed = time.monotonic() - began
    assert response.status_code == 200 and elapsed < 4, elapsed
    assert response.json()["data"] == {
        "me": {"subject": "slow-auditor"},
        "auditLog": {
            "__typename": "ServiceUnavailable",
            "service": "identity",
            "code": "service_unavailable",
        },
    }


@pytest.mark.parametrize("field", ["employees(first: 5)", 'employee(id: "x")'])
def test_a_backend_that_is_down_gives_service_unavailable(stack, field) -> None:
    if not hasattr(stack, "down_gateway"):
        from chorus_local.infra import free_port

        stack.down_gateway = stack.process(
            "gateway", instance="down", CHORUS_IDENTITY_URL=f"http://127.0.0.1:{free_port()}"
        )
        stack.down_gateway.start()
    gql = GraphQL(stack.down_gateway.url)
    began = time.monotonic()
    response = gql.post(
        f"{{ me {{ subject }} x: {field} {{ __typename "
        "... on ServiceUnavailable { service } } }",
        token=stack.token(),
    )
    assert response.status_code == 200 and time.monotonic() - began < 3
    assert response.json()["data"] == {
        "me": {"subject": "test-admin"},
        "x": {"__typename": "ServiceUnavailable", "service": "identity"},
    }
