"""Building access reviews' handlers (their scheduler tick runs on every replica: bootstrap's
`every(settings.review_tick_seconds, reviews.run_schedule)`)."""

from __future__ import annotations

from datetime import timedelta

from access.adapters.mongo_store import OrgUnitView
from access.adapters.review_store import ReviewStore
from access.handlers import AccountHandlers, GrantHandlers
from access.review_handlers import EventsWritten, ReviewHandlers, RevokeThroughCore
from access.review_settings import ReviewSettings


def build_reviews(
    store: ReviewStore,
    settings: ReviewSettings,
    *,
    units: OrgUnitView,
    grants: GrantHandlers,
    accounts: AccountHandlers,
    events_written: EventsWritten,
    replica: str,
) -> ReviewHandlers:
    return ReviewHandlers(
        store=store,
        units=units,
        revoke_grant=RevokeThroughCore(grants=grants, accounts=accounts),
        events_written=events_written,
        reminder_fractions=settings.review_reminder_fractions,
        close_lease=timedelta(seconds=settings.review_close_lease_seconds),
        stale_after=timedelta(seconds=settings.review_stale_seconds),
        replica=replica,
    )
