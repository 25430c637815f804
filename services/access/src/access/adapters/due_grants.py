"""When each open grant next needs the scheduler, kept in memory.

Why: on FerretDB v1 a query for due grants (`revoked_at: null, expires_at <= ...`) reads
the whole `grants` collection, which keeps every grant ever made (they are intervals): a
scan every few seconds slows every other write of the service. So the scheduler asks
this instead, and reads the database by `_id` only for the grants it names.

It is filled by a scan at start and every `scheduler_resync_seconds` (which also finds
grants other replicas made), and kept current in between by this process's own grant
writes (`GrantStore` notes each one). A grant made by another replica is that replica's
scheduler's to end; if that replica died, the next resync here finds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta


class DueGrants:
    def __init__(self) -> None:
        # grant id → (expires_at, expiring notice sent), for open grants with an expiry.
        self._open: dict[str, tuple[datetime, bool]] = {}
        # Writes noted while a resync's scan runs: the scan may have read them before.
        self._during_resync: dict[str, tuple[datetime, bool] | None] | None = None

    def note(
        self, grant_id: str, *, expires_at: datetime | None, expiring_sent: bool, is_open: bool
    ) -> None:
        """A grant's state as just written (or read)."""
        entry = (expires_at, expiring_sent) if is_open and expires_at is not None else None
        if self._during_resync is not None:
            self._during_resync[grant_id] = entry
        if entry is None:
            self._open.pop(grant_id, None)
        else:
            self._open[grant_id] = entry

    def forget(self, grant_ids: Iterable[str]) -> None:
        for grant_id in grant_ids:
            self.note(grant_id, expires_at=None, expiring_sent=False, is_open=False)

    def begin_resync(self) -> None:
        self._during_resync = {}

    def finish_resync(self, scanned: dict[str, tuple[datetime, bool]]) -> None:
        """Replace everything by a scan's result, the writes noted since it began winning."""
        noted, self._during_resync = self._during_resync or {}, None
        for grant_id, entry in noted.items():
            if entry is None:
                scanned.pop(grant_id, None)
            else:
                scanned[grant_id] = entry
        self._open = scanned

    def abandon_resync(self) -> None:
        self._during_resync = None

    def due(self, *, now: datetime, lead: timedelta) -> tuple[list[str], list[str]]:
        """(grants whose expiry is to be announced, grants past their expiry), by id."""
        announce, end = [], []
        for grant_id, (expires_at, expiring_sent) in self._open.items():
            if expires_at <= now:
                end.append(grant_id)
            elif not expiring_sent and expires_at <= now + lead:
                announce.append(grant_id)
        return sorted(announce), sorted(end)

    def __len__(self) -> int:
        return len(self._open)
