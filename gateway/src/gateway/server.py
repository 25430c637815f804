"""GraphQL over HTTP done by the book, and graphql-transport-ws for subscriptions.

HTTP (the GraphQL-over-HTTP spec): POST with a JSON body, or GET with query parameters
for queries only (a mutation over GET is 405). The answer is
`application/graphql-response+json` with the spec's status codes (a request error is
400, an answer with data is 200) or, when the client asks for `application/json`,
that (request errors then answer 200, as the spec says for the legacy type). An
unauthenticated call is 401, a spent budget 429 (with Retry-After). APQ hashes stand
in for query texts. Subscriptions run over WebSocket, authenticated at
`connection_init` with `{"Authorization": "Bearer <token>"}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import HTMLResponse, Response
from graphql import GraphQLError
from strawberry import Schema
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.fastapi import GraphQLRouter
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from chorus_kit.auth import Principal
from chorus_kit.errors import Unauthorized
from gateway.context import Context, Services
from gateway.limits import retry_after_header
from gateway.persisted_queries import PersistedQueries
from gateway.problems import GatewayError
from gateway.settings import GatewaySettings
from gateway.verification import token_expiry

log = logging.getLogger(__name__)

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
PATH = "/graphql"
ContextFactory = Callable[..., Context]


class BadRequest(Exception):
    """A request that is not a well-formed GraphQL-over-HTTP request (always 4xx)."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def negotiate(accept: str | None) -> str:
    """The response media type the client accepts, by the order and weight it gives."""
    if not accept or not accept.strip():
        return JSON  # the spec's rule for clients that say nothing
    ranges: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        ranges.append((-weight, index, media.strip().lower()))
    for weight, _, media in sorted(ranges):
        if weight == 0:
            continue
        if media in (GRAPHQL_RESPONSE, "application/*", "*/*"):
            return GRAPHQL_RESPONSE
        if media == JSON:
            return JSON
    raise BadRequest(406, "Accept: application/graphql-response+json or application/json")


def _json_param(raw: str | None, name: str) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise BadRequest(400, f"`{name}` is not JSON") from None
    if value is not None and not isinstance(value, dict):
        raise BadRequest(400, f"`{name}` must be a JSON object")
    return value


def _body_of(params: dict[str, Any]) -> tuple[str | None, str | None, dict[str, Any] | None, Any]:
    query = params.get("query")
    name = params.get("operationName")
    variables = params.get("variables")
    extensions = params.get("extensions")
    if query is not None and not isinstance(query, str):
        raise BadRequest(400, "`query` must be a string")
    if name is not None and not isinstance(name, str):
        raise BadRequest(400, "`operationName` must be a string")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest(400, "`variables` must be an object")
    if extensions is not None and not isinstance(extensions, dict):
        raise BadRequest(400, "`extensions` must be an object")
    return query, name, variables, extensions


class SubscriptionView(GraphQLRouter[Context, None]):
    """Strawberry's graphql-transport-ws handling, authenticated with the gateway's verifier.

    Only its WebSocket side is used; HTTP is the gateway's own endpoint.
    """

    def __init__(self, schema: Schema, services: Services) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=20,
            allowed_origins=services.settings.allowed_origins,
        )
        self.services = services

    async def on_ws_connect(self, context: Context) -> None:
        params = context.connection_params or {}
        raw = params.get("Authorization") or params.get("authorization") or ""
        token = raw[7:] if isinstance(raw, str) and raw.lower().startswith("bearer ") else ""
        if not token:
            raise ConnectionRejectionError({"code": "MISSING_TOKEN"})
        try:
            principal = await self.services.verifier.verify(token)
        except Unauthorized as exc:
            raise ConnectionRejectionError({"code": exc.code.upper()}) from None
        context.authenticated(
            principal, token, expires_at=datetime.fromtimestamp(token_expiry(token), UTC)
        )


class GraphQLEndpoint:
    """The HTTP side: one request in, one GraphQL response out."""

    def __init__(self, schema: Schema, services: Services, persisted: PersistedQueries) -> None:
        self.schema = schema
        self.services = services
        self.settings: GatewaySettings = services.settings
        self.persisted = persisted

    async def handle(self, request: Request) -> Response:
        if request.method == "GET" and self._wants_ide(request):
            return HTMLResponse(get_graphql_ide_html("graphiql"))
        try:
            media = negotiate(request.headers.get("accept"))
        except BadRequest as exc:
            return self._plain(exc)
        try:
            query, name, variables, extensions = await self._read(request)
            query = self.persisted.resolve(query, extensions)
            if query is None:
                raise BadRequest(400, "no GraphQL query in the request")
            if len(query) > self.settings.max_query_bytes:
                raise BadRequest(413, "query too large")
            principal, token = await self._authenticate(request)
        except BadRequest as exc:
            return self._plain(exc)
        except GatewayError as exc:
            return self._errors(media, [exc], status=exc.status)
        context = Context(
            self.services,
            principal=principal,
            token=token,
            client_address=request.client.host if request.client else "",
        )
        allowed = (
            {OperationType.QUERY}
            if request.method == "GET"
            else {OperationType.QUERY, OperationType.MUTATION}
        )
        try:
            async with asyncio.timeout(self.settings.request_timeout_seconds):
                result = await self.schema.execute(
                    query,
                    variable_values=variables,
                    context_value=context,
                    operation_name=name,
                    allowed_operation_types=allowed,
                )
        except InvalidOperationTypeError as exc:
            if request.method == "GET" and exc.operation_type is OperationType.MUTATION:
                error = GatewayError("mutations need POST", code="METHOD_NOT_ALLOWED", status=405)
                return self._errors(media, [error], status=405, headers={"Allow": "POST"})
            error = GatewayError(
                "subscriptions run over WebSocket (graphql-transport-ws)",
                code="OPERATION_NOT_SUPPORTED",
            )
            return self._errors(media, [error], status=None)
        except (CannotGetOperationTypeError, MissingQueryError) as exc:
            error = GatewayError(
                getattr(exc, "as_http_error_reason", lambda: "no operation to run")(),
                code="BAD_REQUEST",
            )
            return self._errors(media, [error], status=None)
        except TimeoutError:
            error = GatewayError("the request took too long", code="REQUEST_TIMEOUT", status=504)
            return self._errors(media, [error], status=504)
        return self._result(media, result)

    # --- reading the request ------------------------------------------------------------
    def _wants_ide(self, request: Request) -> bool:
        return (
            self.settings.graphiql_enabled
            and "query" not in request.query_params
            and "extensions" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )

    async def _read(
        self, request: Request
    ) -> tuple[str | None, str | None, dict[str, Any] | None, dict[str, Any] | None]:
        if request.method == "GET":
            params = request.query_params
            return _body_of(
                {
                    "query": params.get("query"),
                    "operationName": params.get("operationName") or None,
                    "variables": _json_param(params.get("variables"), "variables"),
                    "extensions": _json_param(params.get("extensions"), "extensions"),
                }
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (JSON, GRAPHQL_RESPONSE):
            raise BadRequest(415, "Content-Type must be application/json")
        raw = await request.body()
        if len(raw) > self.settings.max_query_bytes * 5:
            raise BadRequest(413, "request too large")
        try:
            body = json.loads(raw)
        except ValueError:
            raise BadRequest(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest(400, "the body must be a JSON object (no batches)")
        return _body_of(body)

    async def _authenticate(self, request: Request) -> tuple[Principal | None, str | None]:
        header = request.headers.get("authorization")
        if not header:
            return None, None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GatewayError("a bearer token is required", code="MISSING_TOKEN", status=401)
        try:
            principal = await self.services.verifier.verify(token.strip())
        except Unauthorized as exc:
            raise GatewayError(exc.detail, code=exc.code.upper(), status=401) from None
        return principal, token.strip()

    # --- answering --------------------------------------------------------------------------
    def _result(self, media: str, result: ExecutionResult) -> Response:
        if isinstance(result, PreExecutionError):
            errors = result.errors or []
            status = next(
                (e.status for e in map(_gateway_error, errors) if e and e.status),
                None,
            )
            return self._errors(media, errors, status=status)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        if result.extensions:
            body["extensions"] = result.extensions
        return self._respond(media, body, 200)

    def _errors(
        self,
        media: str,
        errors: list[GraphQLError],
        *,
        status: int | None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """A response without data: a request error, or a refused request."""
        if status is None or status == 200:
            status = 400 if media == GRAPHQL_RESPONSE else 200
        headers = dict(headers or {})
        for error in errors:
            retry = (error.extensions or {}).get("retryAfterSeconds")
            if retry is not None:
                headers["Retry-After"] = retry_after_header(float(retry))
            if status == 401:
                headers["WWW-Authenticate"] = "Bearer"
        return self._respond(media, {"errors": [e.formatted for e in errors]}, status, headers)

    @staticmethod
    def _respond(
        media: str, body: dict[str, Any], status: int, headers: dict[str, str] | None = None
    ) -> Response:
        try:
            payload = orjson.dumps(body, default=str)  # a 50-row answer: ~5 % of CPU as json
        except orjson.JSONEncodeError:  # e.g. a lone surrogate, which json escapes
            payload = json.dumps(body, separators=(",", ":"), default=str).encode()
        # Answers are per caller and may hold a secret (a credential checked out): no
        # browser, proxy or CDN may keep one.
        headers = {**(headers or {}), "Cache-Control": "no-store"}
        return Response(payload, status_code=status, media_type=media, headers=headers)

    @staticmethod
    def _plain(exc: BadRequest) -> Response:
        body = {"errors": [{"message": exc.message, "extensions": {"code": "BAD_REQUEST"}}]}
        return Response(
            json.dumps(body).encode(),
            status_code=exc.status,
            media_type=JSON,
            headers=exc.headers,
        )


def _gateway_error(error: GraphQLError) -> GatewayError | None:
    if isinstance(error, GatewayError):
        return error
    if isinstance(error.original_error, GatewayError):
        return error.original_error
    return None


def graphql_router(schema: Schema, services: Services) -> APIRouter:
    """The GraphQL endpoint (HTTP and WebSocket) of a gateway schema."""
    endpoint = GraphQLEndpoint(
        schema, services, PersistedQueries(max_entries=services.settings.persisted_queries_max)
    )
    subscriptions = SubscriptionView(schema, services)
    router = APIRouter()

    @router.api_route(PATH, methods=["GET", "POST"], include_in_schema=False)
    async def graphql_http(request: Request) -> Response:
        return await endpoint.handle(request)

    @router.websocket(PATH)
    async def graphql_ws(websocket: WebSocket) -> None:
        context = Context(services, principal=None, token=None, websocket=websocket)
        await subscriptions.run(websocket, context=context, root_value=None)

    return router
