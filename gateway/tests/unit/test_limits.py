"""The cost estimate and the per-user budget."""

from __future__ import annotations

import pytest
import strawberry
from graphql import get_operation_ast, parse

from gateway.limits import CostBudgets, estimate_cost
from gateway.schema import Mutation, Query, Subscription

SCHEMA = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)._schema


def cost(query: str, variables: dict | None = None) -> int:
    document = parse(query)
    operation = get_operation_ast(document)
    assert operation is not None
    return estimate_cost(SCHEMA, document, operation, variables)


def test_lists_multiply_their_children_by_first() -> None:
    one = cost("{ employees(first: 1) { ... on EmployeeConnection { nodes { unit { id } } } } }")
    hundred = cost(
        "query($n: Int!) { employees(first: $n) { ... on EmployeeConnection {"
        " nodes { unit { id } } } } }",
        {"n": 100},
    )
    # employees (2) + per node: the node (1) and its unit (1)
    assert one == 2 + 1 * 2
    assert hundred == 2 + 100 * 2


def test_scalars_are_free_and_fragments_count() -> None:
    assert cost("{ me { subject } }") == 1
    with_fragment = cost(
        "query { employees(first: 10) { ...Page } } "
        "fragment Page on EmployeeConnection { nodes { manager { id } } }"
    )
    assert with_fragment == 2 + 10 * 2


def test_nested_connections_multiply() -> None:
    nested = cost(
        "{ orgTree { ... on OrgTreeView { units { employees(first: 100) {"
        " ... on EmployeeConnection { nodes { id } } } } } } }"
    )
    # orgTree 1 + units: 1 + 50 per unit x (employees 10 + 100 nodes x 1)
    assert nested == 1 + 1 + 50 * (10 + 100 * 1)


def test_budget_refills_at_its_rate() -> None:
    budgets = CostBudgets(capacity=100, per_second=10)
    assert budgets.take("ann", 80, now=0.0) == 0
    wait = budgets.take("ann", 50, now=0.0)
    assert wait == pytest.approx(3.0)  # 20 left, 30 missing at 10 per second
    assert budgets.take("bob", 100, now=0.0) == 0  # each person has their own
    assert budgets.take("ann", 50, now=3.0) == 0
    assert budgets.take("ann", 500, now=1000.0) > 0  # never more than the capacity
