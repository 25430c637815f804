"""Signing in, refreshing and signing out through identity (public: no token needed).

The tokens are handed to the caller once and never cached or logged here. Identity
counts failed sign-ins per address: the caller's address goes along as X-Forwarded-For
(identity believes it only from proxies it trusts, `CHORUS_TRUSTED_PROXIES`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import strawberry

from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.problems import (
    Conflict,
    Forbidden,
    NotFound,
    Problem,
    ProblemResult,
    ServiceUnavailable,
    ValidationFailed,
    from_backend,
)

Json = dict[str, Any]
PUBLIC_SESSION_FIELDS = frozenset(
    {"signIn", "refreshSession", "signOut", "startOidcSignIn", "finishOidcSignIn"}
)


@strawberry.type(description="Tokens for one session: keep the refresh token secret.")
class Session:
    token_type: str
    access_token: str
    expires_in: int = strawberry.field(description="seconds the access token lives")
    refresh_token: str = strawberry.field(description="single use: a refresh returns a new one")
    refresh_expires_at: datetime
    person_id: strawberry.ID

    @classmethod
    def of(cls, raw: Json) -> Session:
        return cls(
            token_type=raw.get("token_type", "Bearer"),
            access_token=raw["access_token"],
            expires_in=raw["expires_in"],
            refresh_token=raw["refresh_token"],
            refresh_expires_at=datetime.fromisoformat(raw["refresh_expires_at"]),
            person_id=strawberry.ID(raw["person_id"]),
        )


@strawberry.type(
    description="Sign-in refused: wrong credentials, ended session, or too many tries."
)
class SignInRefused(Problem):
    pass


@strawberry.type
class SignedOut:
    ok: bool


@strawberry.type
class PasswordSet:
    employee_id: strawberry.ID


@strawberry.type(description="Where to send the browser to sign in with the identity provider.")
class OidcSignIn:
    authorization_url: str
    state: str
    expires_at: datetime


SessionResult = Annotated[
    Session | SignInRefused | ValidationFailed | ServiceUnavailable,
    strawberry.union("SessionResult"),
]
SignOutResult = Annotated[
    SignedOut | SignInRefused | ValidationFailed | ServiceUnavailable,
    strawberry.union("SignOutResult"),
]
PasswordResult = Annotated[
    PasswordSet | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("PasswordResult"),
]
OidcSignInResult = Annotated[
    OidcSignIn | SignInRefused | ValidationFailed | ServiceUnavailable,
    strawberry.union("OidcSignInResult"),
]


def _refused(exc: BackendProblem | BackendUnavailable) -> Any:
    if isinstance(exc, BackendProblem) and exc.status in (401, 403, 404, 409, 429):
        return SignInRefused(message=exc.detail, code=exc.code)
    found: ProblemResult = from_backend(exc)
    return found


async def _session_call(info: Info, method: str, path: str, body: Json | None) -> Any:
    context = info.context
    headers = {"X-Forwarded-For": context.client_address} if context.client_address else None
    try:
        return await context.services.identity.call(method, path, None, body, headers=headers)
    except (BackendUnavailable, BackendProblem) as exc:
        return _refused(exc)


@strawberry.type
class SessionMutation:
    @strawberry.mutation(description="Email and password → an access token and a refresh token.")
    async def sign_in(self, info: Info, email: str, password: str) -> SessionResult:
        answer = await _session_call(
            info, "POST", "/v1/sessions", {"email": email, "password": password}
        )
        return Session.of(answer) if isinstance(answer, dict) else answer

    @strawberry.mutation(description="A used-once refresh token → new tokens.")
    async def refresh_session(self, info: Info, refresh_token: str) -> SessionResult:
        answer = await _session_call(
            info, "POST", "/v1/sessions/refresh", {"refresh_token": refresh_token}
        )
        return Session.of(answer) if isinstance(answer, dict) else answer

    @strawberry.mutation(description="End the session the refresh token belongs to.")
    async def sign_out(self, info: Info, refresh_token: str) -> SignOutResult:
        answer = await _session_call(
            info, "POST", "/v1/sessions/sign-out", {"refresh_token": refresh_token}
        )
        return SignedOut(ok=True) if answer is None else answer

    @strawberry.mutation(description="Begin signing in with the organisation's identity provider.")
    async def start_oidc_sign_in(self, info: Info) -> OidcSignInResult:
        answer = await _session_call(info, "GET", "/v1/sessions/oidc/start", None)
        if not isinstance(answer, dict):
            return answer  # type: ignore[no-any-return]
        return OidcSignIn(
            authorization_url=answer["authorization_url"],
            state=answer["state"],
            expires_at=datetime.fromisoformat(answer["expires_at"]),
        )

    @strawberry.mutation(description="The code and state the provider sent back → tokens.")
    async def finish_oidc_sign_in(self, info: Info, code: str, state: str) -> SessionResult:
        answer = await _session_call(
            info, "POST", "/v1/sessions/oidc/callback", {"code": code, "state": state}
        )
        return Session.of(answer) if isinstance(answer, dict) else answer

    @strawberry.mutation(description="Set or reset someone's password (admins over their unit).")
    async def set_employee_password(
        self, info: Info, id: strawberry.ID, password: str
    ) -> PasswordResult:
        context = info.context
        try:
            await context.services.identity.call(
                "PUT",
                f"/v1/employees/{quote(id, safe='')}/password",
                context.bearer,
                {"password": password},
            )
        except (BackendUnavailable, BackendProblem) as exc:
            return from_backend(exc)
        return PasswordSet(employee_id=id)
