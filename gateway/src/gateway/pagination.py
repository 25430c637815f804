"""Relay-style page information shared by every connection in the schema."""

from __future__ import annotations

import strawberry

MAX_PAGE = 100


@strawberry.type(description="Where a page ends, and whether another follows (forward only).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None
