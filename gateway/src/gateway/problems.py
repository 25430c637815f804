"""Expected failures as typed results (`... | NotFound | Forbidden | Conflict | ...`).

A resolver returns one of these instead of raising, so clients branch on `__typename`
and never parse error messages. What a service refused comes back with the service's
own machine-readable `code`; nothing of the request is echoed.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError

from gateway.clients.backend import BackendProblem, BackendUnavailable


@strawberry.interface(description="An expected failure, with a stable machine-readable code.")
class Problem:
    message: str
    code: str


@strawberry.type(description="It does not exist, or it is not yours to see.")
class NotFound(Problem):
    pass


@strawberry.type(description="Your roles do not cover this.")
class Forbidden(Problem):
    pass


@strawberry.type(description="Not possible in the current state (or changed meanwhile).")
class Conflict(Problem):
    pass


@strawberry.type
class FieldProblem:
    path: list[str]
    message: str


@strawberry.type(description="The input is not acceptable; `fields` says where and why.")
class ValidationFailed(Problem):
    fields: list[FieldProblem]


@strawberry.type(description="A service did not answer in time: this part is missing.")
class ServiceUnavailable(Problem):
    service: str


ProblemResult = NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable


def from_backend(exc: BackendProblem | BackendUnavailable) -> ProblemResult:
    """The typed result for a service's refusal or absence."""
    if isinstance(exc, BackendUnavailable):
        return ServiceUnavailable(
            message=f"{exc.service} did not answer in time",
            code="service_unavailable",
            service=exc.service,
        )
    if exc.status == 401:
        # The token was good when the request began; a service refusing it now means
        # it was revoked meanwhile: the whole request is refused, not one field.
        raise unauthenticated("session revoked or expired", code=exc.code)
    if exc.status == 404:
        return NotFound(message=exc.detail, code=exc.code)
    if exc.status == 403:
        return Forbidden(message=exc.detail, code=exc.code)
    if exc.status in (409, 412):
        return Conflict(message=exc.detail, code=exc.code)
    if exc.status == 429:
        return ServiceUnavailable(message=exc.detail, code=exc.code, service=exc.service)
    return ValidationFailed(
        message=exc.detail,
        code=exc.code,
        fields=[
            FieldProblem(path=[str(p) for p in e.get("loc", [])], message=str(e.get("msg", "")))
            for e in exc.errors[:20]
            if isinstance(e, dict)
        ],
    )


def invalid(message: str, *, code: str = "validation_failed", path: str = "") -> ValidationFailed:
    fields = [FieldProblem(path=[path], message=message)] if path else []
    return ValidationFailed(message=message, code=code, fields=fields)


class GatewayError(GraphQLError):
    """An error the gateway means to show (never masked), with a stable `code`.

    `status` is the HTTP status when the error ends the whole request (401, 429, ...);
    None means an ordinary request error (400, or 200 for legacy `application/json`).
    """

    def __init__(
        self, message: str, *, code: str, status: int | None = None, **extensions: Any
    ) -> None:
        super().__init__(message, extensions={"code": code, **extensions})
        self.status = status

    @property
    def code(self) -> str:
        return str((self.extensions or {}).get("code", ""))


def unauthenticated(message: str, *, code: str = "unauthenticated") -> GatewayError:
    return GatewayError(message, code=code.upper(), status=401)
