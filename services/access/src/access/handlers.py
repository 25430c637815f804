"""Access's use cases and the table from consumed event type to handler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from access.adapters.mongo_store import EmploymentView
from access.domain import employment
from chorus_kit.auth import Principal
from chorus_kit.consumer import BatchEventHandler
from chorus_kit.errors import Forbidden
from chorus_kit.events import Event
from chorus_kit.events.identity import Role


@dataclass
class AccessHandlers:
    employment: EmploymentView
    root_unit: str

    async def record_employment_changes(self, events: Sequence[Event]) -> None:
        await self.employment.apply_many(
            [(e.subject, e.sequence, employment.view_update(e)) for e in events]
        )

    def event_handlers(self) -> Mapping[str, BatchEventHandler]:
        """Consumed event type -> handler (each takes a run of events of its type)."""
        return {kind: self.record_employment_changes for kind in employment.VIEW_UPDATES}

    async def get_employment(self, employee_id: str, *, by: Principal) -> dict[str, Any]:
        record = await self.employment.get(employee_id)
        units = {record.get("unit_id", ""), self.root_unit}
        if not (by.holds(Role.ADMIN, over=units) or by.holds(Role.AUDITOR, over=units)):
            raise Forbidden("an admin or auditor role over this unit is required")
        return record
