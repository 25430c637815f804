"""Errors with a stable machine-readable code; the web layer maps them to problem+json."""

from __future__ import annotations


class ChorusError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code


class NotFound(ChorusError):
    status = 404
    code = "not_found"


class Conflict(ChorusError):
    status = 409
    code = "conflict"


class Forbidden(ChorusError):
    status = 403
    code = "forbidden"


class Unauthorized(ChorusError):
    status = 401
    code = "unauthorized"


class TransientError(Exception):
    """A failure worth retrying (a dependency is away); consumers retry it without limit."""


class EventRejected(Exception):
    """A handler's explicit, permanent refusal of an event: it goes to the dead-letter topic."""


class PreconditionFailed(ChorusError):
    """The caller's `If-Match` version is not the stored one (someone changed it meanwhile)."""

    status = 412
    code = "precondition_failed"
