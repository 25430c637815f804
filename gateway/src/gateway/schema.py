"""The root schema: each domain's queries, mutations and subscriptions composed."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import ExecutionResult, ExperimentalIncrementalExecutionResults, GraphQLError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext
from strawberry.utils.logging import StrawberryLogger

from gateway.access.mutations import AccessMutation
from gateway.access.queries import AccessQuery
from gateway.access.subscriptions import AccessSubscription
from gateway.identity.mutations import IdentityMutation
from gateway.identity.programme import ProgrammeMutation, ProgrammeQuery
from gateway.identity.queries import IdentityQuery
from gateway.identity.sessions import PUBLIC_SESSION_FIELDS, SessionMutation
from gateway.identity.subscriptions import IdentitySubscription
from gateway.limits import CostBudgets
from gateway.rules import PUBLIC_ROOT_FIELDS, operation_extensions
from gateway.settings import GatewaySettings


@strawberry.type(description="Everything a front end reads.")
class Query(IdentityQuery, ProgrammeQuery, AccessQuery):
    pass


@strawberry.type(description="Every action a front end takes.")
class Mutation(IdentityMutation, ProgrammeMutation, SessionMutation, AccessMutation):
    pass


@strawberry.type(description="Live events over graphql-transport-ws, from now on.")
class Subscription(IdentitySubscription, AccessSubscription):
    pass


class AcyclicExecution(StrawberryGraphQLCoreExecutionContext):
    """Once an operation's response is built, its executor lets go of its own methods.

    graphql-core's executor keeps helpers bound to itself (`async_helpers`), so every
    operation's executor, with the field plans and results it references, was a
    reference cycle left to the garbage collector: ~400 objects per query of 50 rows,
    which made the gateway's full collections its slowest requests. Per-event executors
    of a subscription are copies: dropping the copy's attribute leaves the original's."""

    def build_response(
        self, data: dict[str, Any] | None
    ) -> ExecutionResult | ExperimentalIncrementalExecutionResults:
        try:
            return super().build_response(data)
        finally:
            self.__dict__.pop("async_helpers", None)


class GatewaySchema(strawberry.Schema):
    """Logs only errors raised while resolving (masked for the client, logged for us).

    Request errors (syntax, validation, variable coercion) go back to the client alone:
    their messages may quote a variable's value, and a variable may be a secret.
    """

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if error.original_error is not None:
                StrawberryLogger.error(error, execution_context)


def build_schema(settings: GatewaySettings, *, budgets: CostBudgets | None) -> strawberry.Schema:
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        execution_context_class=AcyclicExecution,
        extensions=operation_extensions(
            settings, budgets=budgets, public_fields=PUBLIC_ROOT_FIELDS | PUBLIC_SESSION_FIELDS
        ),
    )


def sdl() -> str:
    """The schema in SDL, as committed in gateway/schema.graphql."""
    return strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription).as_str()
