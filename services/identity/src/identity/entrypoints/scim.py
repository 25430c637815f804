"""SCIM 2.0 at /scim/v2 (RFC 7644) for provisioning clients, and the admin API that creates,
lists and revokes those clients.

SCIM routes speak SCIM to the end: every failure, from a missing token to an unexpected
error, answers an `urn:ietf:params:scim:api:messages:2.0:Error` body as
`application/scim+json` (the route class below catches them before the app's problem+json
handlers would). Bodies are read here, not by FastAPI: the content type must be
`application/scim+json` or `application/json` (else 415), at most MAX_BODY_BYTES (else 413),
and a JSON object (else 400 invalidSyntax). Only provisioning-client tokens are accepted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError
from scim2_models import (
    Context,
    Error,
    Group,
    InvalidSyntaxException,
    InvalidValueException,
    PayloadTooLargeException,
    ResponseParameters,
    SCIMException,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from chorus_kit.errors import (
    ChorusError,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthorized,
)
from chorus_kit.web import CurrentPrincipal
from identity.domain.scim_clients import CreateProvisioningClient, ProvisioningClient
from identity.domain.scim_discovery import (
    MAX_BODY_BYTES,
    MAX_RESULTS,
    resource_types,
    schemas,
    service_provider_config,
)
from identity.domain.scim_resources import ScimUser, group_resource, user_resource, version_tag
from identity.scim_handlers import GroupView, ListQuery, Page, ScimCaller, ScimHandlers

log = logging.getLogger(__name__)

SCIM_MEDIA_TYPE = "application/scim+json"
ACCEPTED_MEDIA_TYPES = frozenset({SCIM_MEDIA_TYPE, "application/json"})
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
DEFAULT_COUNT = 100
# An oversized body is read (and dropped) up to this much, so the client gets its 413 rather
# than a connection reset mid-upload; beyond it the connection is simply closed.
DRAIN_LIMIT = 16 * MAX_BODY_BYTES

# Identity's conflict codes, as SCIM status and scimType.
CONFLICTS: dict[str, tuple[int, str | None]] = {
    "email_taken": (409, "uniqueness"),
    "group_exists": (409, "uniqueness"),
    "unit_exists": (409, "uniqueness"),
    "not_employed": (400, "mutability"),
    "not_active": (400, "mutability"),
    "not_suspended": (400, "mutability"),
    "not_offboarded": (400, "mutability"),
    "already_offboarded": (400, "mutability"),
    "manager_cycle": (400, "invalidValue"),
    "manager_not_employed": (400, "invalidValue"),
    "unit_closed": (400, "invalidValue"),
}


class UnsupportedMediaType(SCIMException):
    status = 415
    scim_type = ""
    _default_detail = "send application/scim+json (or application/json)"


# --- errors --------------------------------------------------------------------------------------
def scim_error(
    status_code: int,
    detail: str,
    scim_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status_code), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return JSONResponse(
        body, status_code=status_code, media_type=SCIM_MEDIA_TYPE, headers=dict(headers or {})
    )


def error_response(exc: Exception) -> JSONResponse:
    """Any failure as a SCIM error; details never repeat the request's values."""
    if isinstance(exc, SCIMException):
        error = exc.to_error()
        return scim_error(error.status or 400, error.detail or exc.detail, error.scim_type)
    if isinstance(exc, ValidationError):
        error = Error.from_validation_errors(exc)[0]
        return scim_error(error.status or 400, error.detail or "invalid request", error.scim_type)
    if isinstance(exc, Unauthorized):
        return scim_error(401, exc.detail, headers={"WWW-Authenticate": 'Bearer realm="scim"'})
    if isinstance(exc, PreconditionFailed):
        return scim_error(412, exc.detail)
    if isinstance(exc, NotFound):
        return scim_error(404, exc.detail)
    if isinstance(exc, Forbidden):
        return scim_error(403, exc.detail)
    if isinstance(exc, Conflict):
        code, scim_type = CONFLICTS.get(exc.code, (409, None))
        return scim_error(code, exc.detail, scim_type)
    if isinstance(exc, ChorusError):
        return scim_error(exc.status, exc.detail, "invalidValue" if exc.status == 400 else None)
    if isinstance(exc, RequestValidationError):
        return scim_error(400, "the request is not valid", "invalidValue")
    if isinstance(exc, StarletteHTTPException):
        return scim_error(exc.status_code, str(exc.detail))
    log.exception("unhandled error in a SCIM request", exc_info=exc)
    return scim_error(500, "internal error")


class ScimRoute(APIRoute):
    """Routes whose every failure answers in SCIM's error form."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_as_scim(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as exc:  # each kind is mapped in error_response
                return error_response(exc)

        return handle_as_scim


# --- request reading -----------------------------------------------------------------------------
async def read_body(request: Request) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED_MEDIA_TYPES:
        raise UnsupportedMediaType()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_LIMIT:
        raise PayloadTooLargeException(detail=f"bodies are limited to {MAX_BODY_BYTES} bytes")
    body = bytearray()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            body += chunk
        elif size > DRAIN_LIMIT:
            break
    if size > MAX_BODY_BYTES:
        raise PayloadTooLargeException(detail=f"bodies are limited to {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidSyntaxException(detail="the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidSyntaxException(detail="the body must be a JSON object")
    return data


def if_match_tags(request: Request) -> frozenset[str] | None:
    """The versions `If-Match` names (`W/"3"`, `"3"`); None when absent or `*`."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    tags = set()
    for part in raw.split(","):
        tag = part.strip()
        if tag == "*":
            return None
        tags.add(tag.removeprefix("W/").strip().strip('"'))
    return frozenset(tags)


def _int_parameter(parameters: Mapping[str, Any], name: str, default: int) -> int:
    raw = parameters.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise InvalidValueException(detail=f"{name} must be an integer") from None


def list_query(parameters: Mapping[str, Any]) -> ListQuery:
    """RFC 7644 §3.4.2 parameters; startIndex below 1 reads as 1, count is capped."""
    order = str(parameters.get("sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise InvalidValueException(detail="sortOrder is ascending or descending")
    filter_text = parameters.get("filter")
    sort_by = parameters.get("sortBy")
    if not isinstance(filter_text, str | None) or not isinstance(sort_by, str | None):
        raise InvalidValueException(detail="filter and sortBy are strings")
    return ListQuery(
        filter=filter_text or None,
        sort_by=sort_by or None,
        descending=order == "descending",
        start_index=max(_int_parameter(parameters, "startIndex", 1), 1),
        count=min(max(_int_parameter(parameters, "count", DEFAULT_COUNT), 0), MAX_RESULTS),
    )


def response_parameters(parameters: Mapping[str, Any], model: Any) -> Any:
    attributes = parameters.get("attributes")
    excluded = parameters.get("excludedAttributes")
    if not attributes and not excluded:
        return None
    parameters_class: Any = ResponseParameters.__class_getitem__(model)
    return parameters_class.model_validate(
        {"attributes": attributes or None, "excludedAttributes": excluded or None}
    )


# --- dependencies --------------------------------------------------------------------------------
def _scim(request: Request) -> ScimHandlers:
    scim: ScimHandlers = request.app.state.scim
    return scim


async def scim_caller(request: Request) -> ScimCaller:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a provisioning client's bearer token is required", code="missing_token")
    return await _scim(request).authenticate(token.strip())


Scim = Annotated[ScimHandlers, Depends(_scim)]
Caller = Annotated[ScimCaller, Depends(scim_caller)]


def base_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}/scim/v2"


def scim_json(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        content, status_code=status_code, media_type=SCIM_MEDIA_TYPE, headers=dict(headers or {})
    )


scim_router = APIRouter(prefix="/scim/v2", route_class=ScimRoute, tags=["scim"])


# --- discovery -----------------------------------------------------------------------------------
@scim_router.get("/ServiceProviderConfig")
async def get_service_provider_config(request: Request, caller: Caller) -> Response:
    return scim_json(service_provider_config(base_url(request)))


def _listed(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(resources),
        "startIndex": 1,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


@scim_router.get("/ResourceTypes")
async def list_resource_types(request: Request, caller: Caller) -> Response:
    return scim_json(_listed(resource_types(base_url(request))))


@scim_router.get("/ResourceTypes/{name}")
async def get_resource_type(name: str, request: Request, caller: Caller) -> Response:
    found = [r for r in resource_types(base_url(request)) if r["id"].lower() == name.lower()]
    if not found:
        raise NotFound("no such resource type")
    return scim_json(found[0])


@scim_router.get("/Schemas")
async def list_schemas(request: Request, caller: Caller) -> Response:
    return scim_json(_listed(schemas(base_url(request))))


@scim_router.get("/Schemas/{schema_id}")
async def get_schema(schema_id: str, request: Request, caller: Caller) -> Response:
    found = [s for s in schemas(base_url(request)) if s["id"].lower() == schema_id.lower()]
    if not found:
        raise NotFound("no such schema")
    return scim_json(found[0])


# --- Users ---------------------------------------------------------------------------------------
async def _user_json(
    scim: ScimHandlers,
    employee: Any,
    request: Request,
    caller: ScimCaller,
    *,
    context: Context,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    user = user_resource(employee, await scim.tree(), home=caller.home, base_url=base_url(request))
    dumped: dict[str, Any] = user.model_dump(
        scim_ctx=context,
        response_parameters=response_parameters(parameters or {}, ScimUser),
    )
    return dumped


def _user_headers(employee: Any) -> dict[str, str]:
    return {"ETag": version_tag(str(employee.sequence))}


async def _list_users(
    scim: ScimHandlers, request: Request, caller: ScimCaller, parameters: Mapping[str, Any]
) -> Response:
    query = list_query(parameters)
    response_parameters(parameters, ScimUser)  # refuse bad attribute names before querying
    page = await scim.list_users(query, caller=caller)
    resources = [
        await _user_json(
            scim,
            employee,
            request,
            caller,
            context=Context.RESOURCE_QUERY_RESPONSE,
            parameters=parameters,
        )
        for employee in page.items
    ]
    return scim_json(_page(page, resources))


def _page(page: Page, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": page.total,
        "startIndex": page.start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


@scim_router.get("/Users")
async def list_users(request: Request, scim: Scim, caller: Caller) -> Response:
    return await _list_users(scim, request, caller, request.query_params)


@scim_router.post("/Users/.search")
async def search_users(request: Request, scim: Scim, caller: Caller) -> Response:
    return await _list_users(scim, request, caller, await read_body(request))


@scim_router.post("/Users")
async def create_user(request: Request, scim: Scim, caller: Caller) -> Response:
    user = ScimUser.model_validate(
        await read_body(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST
    )
    employee = await scim.create_user(user, caller=caller)
    body = await _user_json(
        scim, employee, request, caller, context=Context.RESOURCE_CREATION_RESPONSE
    )
    headers = {**_user_headers(employee), "Location": body["meta"]["location"]}
    return scim_json(body, status.HTTP_201_CREATED, headers)


@scim_router.get("/Users/{user_id}")
async def get_user(user_id: str, request: Request, scim: Scim, caller: Caller) -> Response:
    employee = await scim.get_user(user_id, caller=caller)
    body = await _user_json(
        scim,
        employee,
        request,
        caller,
        context=Context.RESOURCE_QUERY_RESPONSE,
        parameters=request.query_params,
    )
    return scim_json(body, headers=_user_headers(employee))


@scim_router.put("/Users/{user_id}")
async def replace_user(user_id: str, request: Request, scim: Scim, caller: Caller) -> Response:
    user = ScimUser.model_validate(
        await read_body(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST
    )
    employee = await scim.replace_user(
        user_id, user, caller=caller, if_match=if_match_tags(request)
    )
    body = await _user_json(
        scim, employee, request, caller, context=Context.RESOURCE_REPLACEMENT_RESPONSE
    )
    return scim_json(body, headers=_user_headers(employee))


@scim_router.patch("/Users/{user_id}")
async def patch_user(user_id: str, request: Request, scim: Scim, caller: Caller) -> Response:
    body = await read_body(request)
    employee = await scim.patch_user(user_id, body, caller=caller, if_match=if_match_tags(request))
    answer = await _user_json(
        scim, employee, request, caller, context=Context.RESOURCE_PATCH_RESPONSE
    )
    return scim_json(answer, headers=_user_headers(employee))


@scim_router.delete("/Users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: str, request: Request, scim: Scim, caller: Caller) -> Response:
    await scim.delete_user(user_id, caller=caller, if_match=if_match_tags(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- Groups --------------------------------------------------------------------------------------
def _group_json(
    view: GroupView,
    request: Request,
    *,
    context: Context,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    group = group_resource(view.unit, view.members, base_url=base_url(request))
    dumped: dict[str, Any] = group.model_dump(
        scim_ctx=context, response_parameters=response_parameters(parameters or {}, Group)
    )
    return dumped


def _group_headers(view: GroupView) -> dict[str, str]:
    return {"ETag": version_tag(view.version)}


async def _list_groups(
    scim: ScimHandlers, request: Request, caller: ScimCaller, parameters: Mapping[str, Any]
) -> Response:
    query = list_query(parameters)
    response_parameters(parameters, Group)
    page = await scim.list_groups(query, caller=caller)
    resources = [
        _group_json(view, request, context=Context.RESOURCE_QUERY_RESPONSE, parameters=parameters)
        for view in page.items
    ]
    return scim_json(_page(page, resources))


@scim_router.get("/Groups")
async def list_groups(request: Request, scim: Scim, caller: Caller) -> Response:
    return await _list_groups(scim, request, caller, request.query_params)


@scim_router.post("/Groups/.search")
async def search_groups(request: Request, scim: Scim, caller: Caller) -> Response:
    return await _list_groups(scim, request, caller, await read_body(request))


@scim_router.post("/Groups")
async def create_group(request: Request, scim: Scim, caller: Caller) -> Response:
    group = Group.model_validate(
        await read_body(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST
    )
    view = await scim.create_group(group, caller=caller)
    body = _group_json(view, request, context=Context.RESOURCE_CREATION_RESPONSE)
    headers = {**_group_headers(view), "Location": body["meta"]["location"]}
    return scim_json(body, status.HTTP_201_CREATED, headers)


@scim_router.get("/Groups/{group_id}")
async def get_group(group_id: str, request: Request, scim: Scim, caller: Caller) -> Response:
    view = await scim.get_group(group_id, caller=caller)
    body = _group_json(
        view, request, context=Context.RESOURCE_QUERY_RESPONSE, parameters=request.query_params
    )
    return scim_json(body, headers=_group_headers(view))


@scim_router.put("/Groups/{group_id}")
async def replace_group(group_id: str, request: Request, scim: Scim, caller: Caller) -> Response:
    group = Group.model_validate(
        await read_body(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST
    )
    view = await scim.replace_group(group_id, group, caller=caller, if_match=if_match_tags(request))
    body = _group_json(view, request, context=Context.RESOURCE_REPLACEMENT_RESPONSE)
    return scim_json(body, headers=_group_headers(view))


@scim_router.patch("/Groups/{group_id}")
async def patch_group(group_id: str, request: Request, scim: Scim, caller: Caller) -> Response:
    body = await read_body(request)
    view = await scim.patch_group(group_id, body, caller=caller, if_match=if_match_tags(request))
    answer = _group_json(view, request, context=Context.RESOURCE_PATCH_RESPONSE)
    return scim_json(answer, headers=_group_headers(view))


@scim_router.delete("/Groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_group(group_id: str, request: Request, scim: Scim, caller: Caller) -> Response:
    await scim.delete_group(group_id, caller=caller, if_match=if_match_tags(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@scim_router.api_route(
    "/{anything:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def no_such_endpoint(anything: str) -> Response:
    raise NotFound("no such SCIM endpoint")


# --- provisioning clients (admin API, problem+json like the rest of /v1) -------------------------
class ProvisioningClientRead(BaseModel):
    id: str
    name: str
    unit_id: str
    active: bool
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def of(cls, client: ProvisioningClient) -> ProvisioningClientRead:
        return cls(
            id=client.id,
            name=client.name,
            unit_id=client.unit_id,
            active=client.is_active,
            created_at=client.created_at,
            created_by=client.created_by,
            revoked_at=client.revoked_at,
            revoked_by=client.revoked_by,
        )


class ProvisioningClientCreated(ProvisioningClientRead):
    token: str = Field(description="the bearer token for /scim/v2; shown this once only")


provisioning_router = APIRouter(prefix="/v1/provisioning-clients", tags=["provisioning clients"])


@provisioning_router.post("", status_code=status.HTTP_201_CREATED)
async def create_provisioning_client(
    body: CreateProvisioningClient, scim: Scim, by: CurrentPrincipal, response: Response
) -> ProvisioningClientCreated:
    """A SCIM client for `unit_id` and its subtree; the token is returned only here."""
    client, token = await scim.create_client(body, by=by)
    response.headers["Cache-Control"] = "no-store"
    return ProvisioningClientCreated(**ProvisioningClientRead.of(client).model_dump(), token=token)


@provisioning_router.get("")
async def list_provisioning_clients(
    scim: Scim, by: CurrentPrincipal
) -> list[ProvisioningClientRead]:
    """Clients of the units the caller administers (never their tokens)."""
    return [ProvisioningClientRead.of(c) for c in await scim.list_clients(by=by)]


@provisioning_router.delete("/{client_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_provisioning_client(client_id: str, scim: Scim, by: CurrentPrincipal) -> Response:
    """Revoke the client: its token is refused from the next request on."""
    await scim.revoke_client(client_id, by=by)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


router = APIRouter()
router.include_router(scim_router)
router.include_router(provisioning_router)
