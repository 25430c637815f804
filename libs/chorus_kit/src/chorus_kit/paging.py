"""Cursor paging for the services' list APIs, and the audit log's read API built on it.

A cursor is the last item's sort key, base64url without padding: opaque to clients, and a
cursor this API never gave is a 400 `bad_cursor`, not a crash or an empty page.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import overload

from pydantic import BaseModel, ConfigDict, Field

from chorus_kit.errors import ChorusError
from chorus_kit.events.audit import AuditRecorded


def encode_cursor(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode().rstrip("=")


@overload
def decode_cursor(cursor: str) -> str: ...
@overload
def decode_cursor(cursor: str | None) -> str | None: ...
def decode_cursor(cursor: str | None) -> str | None:
    """The sort key a cursor carries (None for no cursor: the first page)."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad_cursor() from exc
    if not last:
        raise _bad_cursor()
    return last


def _bad_cursor() -> ChorusError:
    return ChorusError("the page cursor is not one this API gave", code="bad_cursor")


# --- the audit log's read API (`GET /v1/audit` in every service) ------------------------------
class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    actor: str | None = Field(default=None, max_length=200)
    action: str | None = Field(default=None, max_length=100)
    target_id: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=200)
    after: str | None = Field(default=None, max_length=300)

    def filters(self) -> dict[str, str | None]:
        """The search's keyword filters (`actor`, `action`, `target_id`)."""
        return {"actor": self.actor, "action": self.action, "target_id": self.target_id}


class AuditPage(BaseModel):
    items: list[AuditRecorded]
    next_cursor: str | None


AuditSearch = Callable[[tuple[datetime, str] | None, int], Awaitable[list[AuditRecorded]]]


async def audit_page(query: AuditQuery, search: AuditSearch) -> AuditPage:
    """One page of entries, newest first: `search(before, limit)` reads them (in the
    caller's scope); the cursor is the last entry's (time, id)."""
    before = None
    if query.after:
        at, _, entry_id = decode_cursor(query.after).partition("|")
        try:
            before = (datetime.fromisoformat(at), entry_id)
        except ValueError as exc:
            raise _bad_cursor() from exc
    found = await search(before, query.limit + 1)
    more = len(found) > query.limit
    found = found[: query.limit]
    last = found[-1] if more and found else None
    cursor = encode_cursor(f"{last.at.isoformat()}|{last.entry_id}") if last else None
    return AuditPage(items=found, next_cursor=cursor)


__all__ = ["AuditPage", "AuditQuery", "audit_page", "decode_cursor", "encode_cursor"]
