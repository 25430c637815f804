"""Access's use cases and the table from consumed event type to handler."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from access.adapters.mongo_store import EmploymentView
from access.domain import employment
from chorus_kit.auth import Principal
from chorus_kit.consumer import EventHandler
from chorus_kit.errors import Forbidden
from chorus_kit.events import Event
from chorus_kit.events.catalogue import EMPLOYEE_HIRED, EMPLOYEE_OFFBOARDED
from chorus_kit.events.identity import Role


@dataclass
class AccessHandlers:
    employment: EmploymentView
    root_unit: str

    async def record_hire(self, event: Event) -> None:
        await self.employment.apply(
            employee_id=event.subject,
            sequence=event.sequence,
            update=employment.hired_update(event),
        )

    async def record_offboarding(self, event: Event) -> None:
        await self.employment.apply(
            employee_id=event.subject,
            sequence=event.sequence,
            update=employment.offboarded_update(event),
        )

    def event_handlers(self) -> Mapping[str, EventHandler]:
        return {
            EMPLOYEE_HIRED.type: self.record_hire,
            EMPLOYEE_OFFBOARDED.type: self.record_offboarding,
        }

    async def get_employment(self, employee_id: str, *, by: Principal) -> dict[str, Any]:
        record = await self.employment.get(employee_id)
        units = {record.get("unit_id", ""), self.root_unit}
        if not (by.holds(Role.ADMIN, over=units) or by.holds(Role.AUDITOR, over=units)):
            raise Forbidden("an admin or auditor role over this unit is required")
        return record
