"""Revocation connectors' REST API: set up an account's connector, see and retry its calls.

The signing secret appears in exactly one answer (the one that made it); no answer here
may be cached.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from access.connector_handlers import ConfiguredConnector, ConnectorHandlers, ConnectorView
from access.domain.connectors import CallStatus, ConnectorAction, ConnectorCall
from chorus_kit.events.identity import SocialNetwork
from chorus_kit.paging import decode_cursor, encode_cursor
from chorus_kit.web import CurrentPrincipal


def _connectors(request: Request) -> ConnectorHandlers:
    handlers: ConnectorHandlers = request.app.state.connectors
    return handlers


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


Connectors = Annotated[ConnectorHandlers, Depends(_connectors)]
router = APIRouter(tags=["connectors"], dependencies=[Depends(_no_store)])


class ConnectorWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)
    url: str = Field(min_length=1, max_length=2000, description="the receiver's http(s) URL")


class ConnectorRead(BaseModel):
    account_id: str
    url: str
    configured_at: datetime
    configured_by: str
    secret_rotated_at: datetime
    signing_secret: str | None = Field(
        default=None,
        description="the HMAC-SHA256 signing secret; present once, in the answer that made it",
    )
    calls: dict[str, int] | None = Field(default=None, description="calls by status")

    @classmethod
    def of(cls, account_id: str, made: ConfiguredConnector) -> ConnectorRead:
        config = made.config
        return cls(
            account_id=account_id,
            url=config.url,
            configured_at=config.configured_at,
            configured_by=config.configured_by,
            secret_rotated_at=config.secret_rotated_at,
            signing_secret=made.signing_secret,
        )

    @classmethod
    def of_view(cls, view: ConnectorView) -> ConnectorRead:
        config = view.config
        return cls(
            account_id=view.account_id,
            url=config.url,
            configured_at=config.configured_at,
            configured_by=config.configured_by,
            secret_rotated_at=config.secret_rotated_at,
            calls=dict(view.calls),
        )


class AttemptRead(BaseModel):
    attempt: int
    at: datetime | None
    status_code: int | None
    error: str | None
    acknowledged: bool | None
    in_flight: bool

    @classmethod
    def of(cls, turn: dict[str, Any]) -> AttemptRead:
        return cls(
            attempt=int(turn["turn"]),
            at=turn.get("at") or turn.get("claimed_at"),
            status_code=turn.get("status_code"),
            error=turn.get("error"),
            acknowledged=turn.get("acknowledged"),
            in_flight=not turn.get("finished", False),
        )


class CallRead(BaseModel):
    call_id: str
    account_id: str
    account_unit_id: str
    network: SocialNetwork
    handle: str
    action: ConnectorAction
    person_id: str | None
    grant_id: str | None
    secret_id: str | None
    reason: str
    requested_at: datetime
    status: CallStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    last_status_code: int | None
    acknowledged_at: datetime | None
    failed_at: datetime | None
    history: list[AttemptRead] | None = None

    @classmethod
    def of(cls, call: ConnectorCall, turns: list[dict[str, Any]] | None = None) -> CallRead:
        return cls(
            call_id=call.id,
            account_id=call.account_id,
            account_unit_id=call.account_unit_id,
            network=call.network,
            handle=call.handle,
            action=call.action,
            person_id=call.person_id,
            grant_id=call.grant_id,
            secret_id=call.secret_id,
            reason=call.reason,
            requested_at=call.requested_at,
            status=call.status,
            attempts=call.attempts,
            next_attempt_at=call.next_attempt_at,
            last_attempt_at=call.last_attempt_at,
            last_error=call.last_error,
            last_status_code=call.last_status_code,
            acknowledged_at=call.acknowledged_at,
            failed_at=call.failed_at,
            history=[AttemptRead.of(t) for t in turns] if turns is not None else None,
        )


class CallQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    status: CallStatus | None = None
    account_id: str | None = Field(default=None, min_length=1, max_length=200)
    after: str | None = Field(default=None, max_length=400, description="the last page's cursor")
    limit: int = Field(default=50, ge=1, le=500)


class CallPage(BaseModel):
    items: list[CallRead]
    next_cursor: str | None


@router.put("/v1/accounts/{account_id}/connector")
async def configure_connector(
    account_id: str,
    body: ConnectorWrite,
    connectors: Connectors,
    by: CurrentPrincipal,
    response: Response,
) -> ConnectorRead:
    """Set the account's connector up (201, with its signing secret, shown once) or point
    it at another URL (200, the secret unchanged)."""
    made = await connectors.configure(account_id, body.url, by=by)
    if made.created:
        response.status_code = status.HTTP_201_CREATED
    return ConnectorRead.of(account_id, made)


@router.post("/v1/accounts/{account_id}/connector/rotate-secret")
async def rotate_connector_secret(
    account_id: str, connectors: Connectors, by: CurrentPrincipal
) -> ConnectorRead:
    """A new signing secret (shown once); the old one signs nothing from now on."""
    return ConnectorRead.of(account_id, await connectors.rotate_secret(account_id, by=by))


@router.get("/v1/accounts/{account_id}/connector")
async def get_connector(
    account_id: str, connectors: Connectors, by: CurrentPrincipal
) -> ConnectorRead:
    return ConnectorRead.of_view(await connectors.get_connector(account_id, by=by))


@router.delete("/v1/accounts/{account_id}/connector", status_code=status.HTTP_204_NO_CONTENT)
async def remove_connector(account_id: str, connectors: Connectors, by: CurrentPrincipal) -> None:
    await connectors.remove(account_id, by=by)


@router.get("/v1/connector-calls")
async def list_connector_calls(
    connectors: Connectors, by: CurrentPrincipal, query: Annotated[CallQuery, Query()]
) -> CallPage:
    """Calls newest first, for owners, admins and auditors (of their accounts and units)."""
    found = await connectors.list_calls(
        by=by,
        status=query.status,
        account_id=query.account_id,
        after=decode_cursor(query.after),
        limit=query.limit,
    )
    more = len(found) == query.limit
    return CallPage(
        items=[CallRead.of(c) for c in found],
        next_cursor=encode_cursor(found[-1].id) if more else None,
    )


@router.get("/v1/connector-calls/{call_id}")
async def get_connector_call(
    call_id: str, connectors: Connectors, by: CurrentPrincipal
) -> CallRead:
    call, turns = await connectors.get_call(call_id, by=by)
    return CallRead.of(call, turns)


@router.post("/v1/connector-calls/{call_id}/retry")
async def retry_connector_call(
    call_id: str, connectors: Connectors, by: CurrentPrincipal
) -> CallRead:
    """A failed call goes back to the queue at once (owners and admins)."""
    return CallRead.of(await connectors.retry_call(call_id, by=by))
