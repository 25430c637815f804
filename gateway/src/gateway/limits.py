"""What a query may cost: an estimate per query, and a per-user budget of cost over time.

The estimate walks the operation before it runs: every field returning an object costs
1 (a field may declare more with `metadata={"cost": n}`: one that calls a service),
and a field's children count as many times as it may return items (its `first`
argument, else its declared `list_size`, else a default for lists). A query over
`max_query_cost` is refused; otherwise its cost is taken from the caller's token bucket
(per replica, in memory), and an empty bucket refuses the query with a retry delay.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
    value_from_ast,
)

DEFAULT_LIST_SIZE = 10
STRAWBERRY_FIELD = "strawberry-definition"


def _metadata(field: GraphQLField) -> Mapping[str, Any]:
    definition = (field.extensions or {}).get(STRAWBERRY_FIELD)
    return getattr(definition, "metadata", None) or {}


def _is_list(field: GraphQLField) -> bool:
    kind = field.type
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    return isinstance(kind, GraphQLList)


@dataclass
class CostEstimator:
    schema: GraphQLSchema
    document: DocumentNode
    variables: Mapping[str, Any]

    def __post_init__(self) -> None:
        self._fragments = {
            d.name.value: d
            for d in self.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }

    def operation_cost(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        return self._selection_cost(root, operation.selection_set, set())

    def _selection_cost(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode | None, seen: set[str]
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field_cost(parent, selection, seen)
            elif isinstance(selection, InlineFragmentNode):
                target = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                if target is not None:
                    total += self._selection_cost(target, selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self._fragments.get(name)
                if fragment is None or name in seen:
                    continue  # validation refuses cycles; never loop here
                target = self.schema.get_type(fragment.type_condition.name.value)
                if target is not None:
                    total += self._selection_cost(target, fragment.selection_set, seen | {name})
        return total

    def _field_cost(self, parent: GraphQLNamedType, node: FieldNode, seen: set[str]) -> int:
        if node.name.value.startswith("__"):
            return 0  # introspection and __typename
        fields: Mapping[str, GraphQLField] = getattr(parent, "fields", None) or {}
        field = fields.get(node.name.value)
        return 0 if field is None else self._cost_of(field, node, seen)

    def _cost_of(self, field: GraphQLField, node: FieldNode, seen: set[str]) -> int:
        meta = _metadata(field)
        named = get_named_type(field.type)
        base = int(meta.get("cost", 1 if is_composite_type(named) else 0))
        children = self._selection_cost(named, node.selection_set, seen)
        return base + self._multiplier(field, node, meta) * children

    def _multiplier(self, field: GraphQLField, node: FieldNode, meta: Mapping[str, Any]) -> int:
        if "first" in field.args:
            first = self._argument(field, node, "first")
            if isinstance(first, int) and first > 0:
                return first
            return 1
        if "list_size" in meta:
            return int(meta["list_size"])
        return DEFAULT_LIST_SIZE if _is_list(field) else 1

    def _argument(self, field: GraphQLField, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                if isinstance(argument.value, VariableNode):
                    return self.variables.get(argument.value.name.value)
                return value_from_ast(argument.value, field.args[name].type, dict(self.variables))
        default = field.args[name].default_value
        return None if default is None else default


def estimate_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
) -> int:
    return CostEstimator(schema, document, variables or {}).operation_cost(operation)


class CostBudgets:
    """A token bucket of query cost per caller, in this replica's memory."""

    MAX_CALLERS = 100_000

    def __init__(self, *, capacity: int, per_second: float) -> None:
        self.capacity = float(capacity)
        self.per_second = per_second
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, caller: str, cost: int, *, now: float | None = None) -> float:
        """Take `cost` from the caller's bucket: 0 if taken, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.per_second)
        if cost > tokens:
            self._buckets[caller] = (tokens, now)
            missing = min(cost, self.capacity) - tokens
            return max(missing / self.per_second, 0.001)
        self._buckets[caller] = (tokens - cost, now)
        if len(self._buckets) > self.MAX_CALLERS:
            self._forget_full(now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        """Drop callers whose bucket has refilled: forgetting them changes nothing."""
        for caller, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.per_second >= self.capacity:
                del self._buckets[caller]


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
