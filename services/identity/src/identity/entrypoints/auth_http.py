"""Sign-in and tokens over REST: sessions, passwords, OIDC, and the JWKS.

Token answers carry `Cache-Control: no-store`. The client address used for rate limits
is the socket peer; `X-Forwarded-For` counts only when that peer is a trusted proxy
(`CHORUS_TRUSTED_PROXIES`), so uvicorn's own proxy-header handling must stay off.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from chorus_kit.web import CurrentPrincipal, problem
from identity.adapters.key_ring import KeyRing
from identity.domain.sessions import IPNetwork, TooManyAttempts, client_address
from identity.session_handlers import IssuedTokens, SessionHandlers


class PasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Annotated[SecretStr, Field(min_length=1, max_length=1024)]


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=320)
    password: Annotated[SecretStr, Field(min_length=1, max_length=1024)]


class RefreshTokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: Annotated[SecretStr, Field(min_length=1, max_length=200)]


class OidcCallback(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=4096)
    state: str = Field(min_length=1, max_length=200)


class TokenPair(BaseModel):
    token_type: Literal["Bearer"] = "Bearer"
    access_token: str
    expires_in: int = Field(description="seconds the access token lives (at most 900)")
    refresh_token: str = Field(description="opaque, single use: a refresh returns a new one")
    refresh_expires_at: datetime
    person_id: str

    @classmethod
    def of(cls, issued: IssuedTokens, response: Response) -> TokenPair:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return cls(
            access_token=issued.access_token,
            expires_in=issued.access_expires_in,
            refresh_token=issued.refresh_token,
            refresh_expires_at=issued.refresh_expires_at,
            person_id=issued.person_id,
        )


class OidcStartRead(BaseModel):
    authorization_url: str
    state: str
    expires_at: datetime


def _sessions(request: Request) -> SessionHandlers:
    handlers: SessionHandlers = request.app.state.session_handlers
    return handlers


def _client(request: Request) -> str:
    trusted: tuple[IPNetwork, ...] = request.app.state.trusted_proxies
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), trusted)


Sessions = Annotated[SessionHandlers, Depends(_sessions)]
ClientAddress = Annotated[str, Depends(_client)]
router = APIRouter()


@router.put("/v1/employees/{employee_id}/password", status_code=status.HTTP_204_NO_CONTENT)
async def set_password(
    employee_id: str, body: PasswordSet, sessions: Sessions, by: CurrentPrincipal
) -> None:
    """An admin over the person's unit sets or resets their password; their sessions end."""
    await sessions.set_password(employee_id, body.password, by=by)


@router.post("/v1/sessions")
async def sign_in(
    body: SignIn, sessions: Sessions, client: ClientAddress, response: Response
) -> TokenPair:
    """Email and password → access token (JWT, 15 min) and refresh token."""
    return TokenPair.of(await sessions.sign_in(body.email, body.password, client=client), response)


@router.post("/v1/sessions/refresh")
async def refresh(
    body: RefreshTokenBody, sessions: Sessions, client: ClientAddress, response: Response
) -> TokenPair:
    """Rotate: the presented refresh token is used up; presenting it again ends the session."""
    return TokenPair.of(await sessions.refresh(body.refresh_token, client=client), response)


@router.post("/v1/sessions/sign-out", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(body: RefreshTokenBody, sessions: Sessions, client: ClientAddress) -> None:
    await sessions.sign_out(body.refresh_token, client=client)


@router.get("/v1/sessions/oidc/start")
async def start_oidc(sessions: Sessions, response: Response) -> OidcStartRead:
    """Where to send the browser to sign in with the organisation's identity provider."""
    started = await sessions.start_oidc()
    response.headers["Cache-Control"] = "no-store"
    return OidcStartRead(
        authorization_url=started.authorization_url,
        state=started.state,
        expires_at=started.expires_at,
    )


@router.post("/v1/sessions/oidc/callback")
async def finish_oidc(
    body: OidcCallback, sessions: Sessions, client: ClientAddress, response: Response
) -> TokenPair:
    """The code and state the provider sent back to the browser → Chorus tokens."""
    issued = await sessions.finish_oidc(body.code, body.state, client=client)
    return TokenPair.of(issued, response)


@router.get("/.well-known/jwks.json", include_in_schema=False)
async def jwks(request: Request, response: Response) -> dict[str, Any]:
    """Every published signing key: the next one shortly before it signs, retired ones until
    their tokens expired. Verifiers refetch on an unknown kid, so a short cache is enough."""
    ring: KeyRing = request.app.state.key_ring
    response.headers["Cache-Control"] = "max-age=60"
    return await ring.jwks()


async def _too_many_attempts(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, TooManyAttempts)
    response = problem(429, exc.code, "Too many attempts", exc.detail)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def include_sign_in(app: FastAPI) -> None:
    """Mount the routes, and answer throttling with 429 and `Retry-After`."""
    app.add_exception_handler(TooManyAttempts, _too_many_attempts)
    app.include_router(router)
