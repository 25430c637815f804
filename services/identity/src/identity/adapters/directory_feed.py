"""Keeps this replica's `EmployeeDirectory` current, and answers list reads from it.

Start: the follower notes the end offsets of identity's employee topic, the whole
collection is loaded once (one scan), then every event from those offsets on makes the
feed re-read its subject by `_id`. Every write is on the topic after it is in the database
(the outbox), so the load plus the events cover every write, whichever replica made it.
This replica's own writes are re-read at once (`ReadThroughEmployees`), so a caller reads
what they just wrote; another replica's writes show within a Kafka fetch (~100 ms), or
when Kafka is back if it is away. Until the load is done, reads go to the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime

from chorus_kit.events import Event
from chorus_kit.events.catalogue import EMPLOYEE
from chorus_kit.follower import TopicFollower
from identity.adapters.mongo_store import EmployeeStore
from identity.domain.commands import EmployeeFilter
from identity.domain.directory import EmployeeDirectory
from identity.domain.model import Employee

log = logging.getLogger(__name__)


class DirectoryFeed:
    def __init__(self, store: EmployeeStore, *, bootstrap: str, topic_prefix: str) -> None:
        self.store = store
        self.directory = EmployeeDirectory()
        self.loaded = False
        self.follower = TopicFollower(
            bootstrap=bootstrap,
            topic=EMPLOYEE,
            topic_prefix=topic_prefix,
            from_beginning=False,
            prepare=self._load_all,
            on_events=self._refresh_subjects,
        )

    async def run(self) -> None:
        await self.follower.run()

    async def _load_all(self) -> None:
        for employee in await self.store.every_employee():
            self.directory.put(employee)
        self.loaded = True
        log.info("staff directory loaded", extra={"employees": len(self.directory)})

    async def _refresh_subjects(self, events: Sequence[Event]) -> None:
        # This replica's own writes were re-read when made: only what is newer is read.
        await self.refresh(
            e.subject
            for e in events
            if e.subject and not self.directory.knows(e.subject, e.sequence)
        )

    async def refresh(self, employee_ids: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(employee_ids))
        if wanted:
            for employee in await self.store.get_many(wanted):
                self.directory.put(employee)


class ReadThroughEmployees:
    """The employee repository the use cases get: writes go to the database and are
    re-read into the directory; list and batch reads come from the directory once loaded."""

    def __init__(self, feed: DirectoryFeed, *, due_rescan_seconds: float = 60.0) -> None:
        self._feed = feed
        self._store = feed.store
        self._due_rescan_seconds = due_rescan_seconds
        self._due_scanned_at: float | None = None

    async def add(self, employee: Employee) -> None:
        await self._store.add(employee)
        await self._feed.refresh([employee.id])

    async def save(self, employee: Employee, *, expected_sequence: int) -> None:
        await self._store.save(employee, expected_sequence=expected_sequence)
        await self._feed.refresh([employee.id])

    async def get(self, employee_id: str) -> Employee:
        return await self._store.get(employee_id)  # a write's read: the database's state

    async def count_in_unit(self, unit_id: str) -> int:
        return await self._store.count_in_unit(unit_id)

    async def due_offboardings(self, now: datetime, *, limit: int = 100) -> list[Employee]:
        """Asked every tick on every replica: from the directory, each candidate re-read by
        `_id` first (a cancellation made through another replica changes no employee event,
        so only the database knows). Those same writes do not reach other replicas'
        directories either: the database is scanned anyway every `due_rescan_seconds`, the
        lateness of a schedule set through a replica that then went away."""
        clock = time.monotonic()
        if (
            not self._feed.loaded
            or self._due_scanned_at is None
            or clock - self._due_scanned_at >= self._due_rescan_seconds
        ):
            found = await self._store.due_offboardings(now, limit=limit)
            self._due_scanned_at = clock
            for employee in found:
                self._feed.directory.put(employee)
            return found
        candidates = self._feed.directory.due_offboardings(now, limit=limit)
        if not candidates:
            return []
        await self._feed.refresh(e.id for e in candidates)
        return self._feed.directory.due_offboardings(now, limit=limit)

    async def get_many(self, employee_ids: Sequence[str]) -> list[Employee]:
        if not self._feed.loaded:
            return await self._store.get_many(employee_ids)
        return self._feed.directory.get_many(employee_ids)

    async def reporting_to(self, manager_ids: Sequence[str]) -> list[Employee]:
        if not self._feed.loaded:
            return await self._store.reporting_to(manager_ids)
        return self._feed.directory.reporting_to(manager_ids)

    async def search(
        self,
        criteria: EmployeeFilter,
        *,
        units: set[str] | None,
        also_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[Employee]:
        if not self._feed.loaded:
            return await self._store.search(
                criteria, units=units, also_id=also_id, after=after, limit=limit
            )
        return self._feed.directory.search(
            criteria, units=units, also_id=also_id, after=after, limit=limit
        )
