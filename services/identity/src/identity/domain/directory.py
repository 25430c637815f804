"""The staff directory in memory: what list and batch reads are answered from.

Why: on the local database (FerretDB v1) every filter but `_id` reads the whole
`employees` collection, so a list page cost a scan per request (60 ms for 200 people,
seconds for 10,000). The directory answers the same questions with the same rules as
`EmployeeStore.search` (same filters, id order, keyset pages); the adapter that keeps it
current is `identity.adapters.directory_feed`. Pure: no I/O.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from identity.domain.commands import EmployeeFilter
from identity.domain.model import Employee


def matches(
    employee: Employee, criteria: EmployeeFilter, *, units: set[str] | None, also_id: str | None
) -> bool:
    """`EmployeeStore.search`'s filter: criteria, then what the caller may see (their units'
    staff, and `also_id`, themselves)."""
    if criteria.status and employee.status is not criteria.status:
        return False
    if criteria.manager_id and employee.manager_id != criteria.manager_id:
        return False
    if criteria.q:
        prefix = criteria.q.lower()
        if not (
            employee.email.startswith(prefix) or employee.family_name.lower().startswith(prefix)
        ):
            return False
    return units is None or employee.unit_id in units or employee.id == also_id


class EmployeeDirectory:
    def __init__(self) -> None:
        self._by_id: dict[str, Employee] = {}
        self._ids: list[str] = []  # sorted: the order of pages
        # Who has an offboarding scheduled, and when: the scheduler's question every tick,
        # which the database could answer only by reading every employee.
        self._scheduled: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def knows(self, employee_id: str, sequence: int) -> bool:
        """Whether the directory holds that employee at `sequence` or later."""
        known = self._by_id.get(employee_id)
        return known is not None and known.sequence >= sequence

    def put(self, employee: Employee) -> None:
        """Keep the newest state of each employee (a late read of an older one is ignored)."""
        known = self._by_id.get(employee.id)
        if known is not None and known.sequence > employee.sequence:
            return
        if known is None:
            insort(self._ids, employee.id)
        self._by_id[employee.id] = employee
        if employee.scheduled_offboarding is None:
            self._scheduled.pop(employee.id, None)
        else:
            self._scheduled[employee.id] = employee.scheduled_offboarding.at

    def _from(self, after: str | None) -> Iterator[Employee]:
        start = bisect_right(self._ids, after) if after is not None else 0
        for index in range(start, len(self._ids)):
            yield self._by_id[self._ids[index]]

    def search(
        self,
        criteria: EmployeeFilter,
        *,
        units: set[str] | None,
        also_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[Employee]:
        found: list[Employee] = []
        for employee in self._from(after):
            if matches(employee, criteria, units=units, also_id=also_id):
                found.append(employee)
                if len(found) == limit:
                    break
        return found

    def get_many(self, employee_ids: Iterable[str]) -> list[Employee]:
        return [self._by_id[i] for i in dict.fromkeys(employee_ids) if i in self._by_id]

    def reporting_to(self, manager_ids: Sequence[str]) -> list[Employee]:
        managers = set(manager_ids)
        return [e for e in self._from(None) if e.manager_id in managers]

    def due_offboardings(self, now: datetime, *, limit: int) -> list[Employee]:
        """`EmployeeStore.due_offboardings`: those whose scheduled offboarding has come,
        earliest first."""
        due = sorted((at, i) for i, at in self._scheduled.items() if at <= now)
        return [self._by_id[i] for _, i in due[:limit]]
