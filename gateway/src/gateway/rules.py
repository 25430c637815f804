"""The gateway's own checks around every operation, as strawberry extensions.

Before a query runs: anonymous callers may only use the public root fields; the cost
estimate must fit the per-query maximum and the caller's budget. Afterwards, any error
the gateway did not mean to show is masked (logged, never sent with a stack or a
message from deep inside).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from graphql import (
    ASTValidationRule,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    get_operation_ast,
)
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.query_depth_limiter import IgnoreContext

from gateway.limits import CostBudgets, estimate_cost, retry_after_header
from gateway.problems import GatewayError, unauthenticated
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

# Root fields a caller without a token may use (signing in, and looking at the schema
# where introspection is on).
PUBLIC_ROOT_FIELDS = frozenset({"__typename", "__schema", "__type"})
ExtensionFactory = Callable[[], SchemaExtension]


def _root_fields(operation: OperationDefinitionNode) -> set[str]:
    return {s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)}


class OperationGuard(SchemaExtension):
    """Who may run the operation, and whether its cost fits."""

    def __init__(
        self, *, max_cost: int, budgets: CostBudgets | None, public_fields: frozenset[str]
    ) -> None:
        self._max_cost = max_cost
        self._budgets = budgets
        self._public = public_fields

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        operation = get_operation_ast(document, context.operation_name)
        if operation is None:
            yield
            return
        caller = context.context
        principal = getattr(caller, "principal", None)
        if principal is None and not _root_fields(operation) <= self._public:
            raise unauthenticated("a bearer token is required", code="missing_token")
        cost = estimate_cost(
            context.schema._schema,  # noqa: SLF001 - graphql-core's schema for the estimate
            document,
            operation,
            context.variables,
        )
        if cost > self._max_cost:
            raise GatewayError(
                f"query too costly: {cost} (at most {self._max_cost})",
                code="QUERY_TOO_COSTLY",
                cost=cost,
                maxCost=self._max_cost,
            )
        if self._budgets is not None:
            wait = self._budgets.take(getattr(caller, "caller_key", "anonymous"), cost)
            if wait:
                raise GatewayError(
                    "query cost budget exhausted; retry later",
                    code="COST_BUDGET_EXCEEDED",
                    status=429,
                    cost=cost,
                    retryAfterSeconds=int(retry_after_header(wait)),
                )
        yield


def shown_to_clients(error: GraphQLError) -> bool:
    """Errors of GraphQL itself (syntax, validation) and the gateway's own are shown."""
    original = error.original_error
    return original is None or isinstance(original, GatewayError)


def _mask(error: GraphQLError) -> bool:
    return not shown_to_clients(error)


def _introspection(ignore: IgnoreContext) -> bool:
    return ignore.field_name.startswith("__")


def operation_extensions(
    settings: GatewaySettings,
    *,
    budgets: CostBudgets | None,
    public_fields: frozenset[str] = PUBLIC_ROOT_FIELDS,
) -> list[ExtensionFactory]:
    """The extensions every gateway schema runs with (the bench's hello world too).

    Validation rules are built once, so the validation cache recognises them across
    requests; every extension instance is per request.
    """
    rules: list[type[ASTValidationRule]] = [
        *QueryDepthLimiter(settings.max_depth, should_ignore=_introspection).validation_rules,
        *MaxAliasesLimiter(settings.max_aliases).validation_rules,
    ]
    if not settings.introspection_enabled:
        from graphql.validation import NoSchemaIntrospectionCustomRule

        rules.append(NoSchemaIntrospectionCustomRule)
    return [
        lambda: MaxTokensLimiter(settings.max_tokens),
        lambda: AddValidationRules(rules),
        lambda: ParserCache(maxsize=1_000),
        lambda: ValidationCache(maxsize=1_000),
        lambda: OperationGuard(
            max_cost=settings.max_query_cost, budgets=budgets, public_fields=public_fields
        ),
        lambda: MaskErrors(should_mask_error=_mask),
    ]
