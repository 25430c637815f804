"""The scheduler's in-memory view of when each open grant is due (`DueGrants`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from access.adapters.due_grants import DueGrants

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LEAD = timedelta(days=3)


def test_a_grant_is_announced_within_the_lead_then_ended_at_its_expiry() -> None:
    due = DueGrants()
    due.note("far", expires_at=NOW + timedelta(days=30), expiring_sent=False, is_open=True)
    due.note("soon", expires_at=NOW + timedelta(days=1), expiring_sent=False, is_open=True)
    due.note("told", expires_at=NOW + timedelta(days=1), expiring_sent=True, is_open=True)
    due.note("past", expires_at=NOW - timedelta(seconds=1), expiring_sent=True, is_open=True)
    due.note("owner", expires_at=None, expiring_sent=False, is_open=True)
    assert due.due(now=NOW, lead=LEAD) == (["soon"], ["past"])
    assert len(due) == 4


def test_an_ended_or_forgotten_grant_is_never_due() -> None:
    due = DueGrants()
    due.note("a", expires_at=NOW - timedelta(days=1), expiring_sent=True, is_open=True)
    due.note("b", expires_at=NOW - timedelta(days=1), expiring_sent=True, is_open=True)
    due.note("a", expires_at=NOW - timedelta(days=1), expiring_sent=True, is_open=False)
    due.forget(["b"])
    assert due.due(now=NOW, lead=LEAD) == ([], [])


def test_a_resync_keeps_the_writes_noted_while_its_scan_ran() -> None:
    due = DueGrants()
    due.note("stale", expires_at=NOW - timedelta(days=1), expiring_sent=True, is_open=True)
    due.begin_resync()
    # Written while the scan runs: made, and ended, after the scan read past them.
    due.note("made", expires_at=NOW - timedelta(seconds=1), expiring_sent=True, is_open=True)
    due.note("ended", expires_at=None, expiring_sent=False, is_open=False)
    scanned = {
        "ended": (NOW - timedelta(days=2), True),
        "other": (NOW - timedelta(hours=1), True),  # another replica's grant
    }
    due.finish_resync(scanned)
    # "stale" was not in the scan (closed elsewhere): gone; "ended": our write wins.
    assert due.due(now=NOW, lead=LEAD) == ([], ["made", "other"])
