"""Access's handlers: the table from consumed event type to handler (identity's employees
and org units, mirrored here), and the use cases of `access.use_cases`, re-exported.

Every write checks authorisation against the mirrored org tree, stores the new state with
its events and an audit entry in ONE document write (FerretDB has no transactions), and
hands the events to the outbox relay. A use case that touches a second document (an
approval, then its grant; an ownership, then its owner grant) records in the first what
the second must become, so the scheduler's sweep completes it if the process dies between.

Who calls what:
- HTTP routes: `AccountHandlers`, `GrantHandlers`, `ReportHandlers` (`app.state.accounts`,
  `.grants`, `.reports`).
- The vault: `GrantHandlers.active_grant(account_id, holder_id, roles)`.
- The leaver flow: `GrantHandlers.end_grant(...)` (non-owner grants) and
  `AccountHandlers.hand_over_ownership(...)` (owner grants), both idempotent.
- The Kafka consumer: `AccessHandlers.event_handlers()` (identity's employees and units).
- The schedulers: `GrantHandlers.run_schedule`, `ReportHandlers.check_former_staff`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from access.adapters.mongo_store import EmploymentView, OrgUnitView
from access.domain import employment, org_view
from access.domain.authorization import READERS, holds_over
from access.use_cases.accounts import AccountHandlers
from access.use_cases.common import EventsWritten, GrantEffects, Reads, replica_name
from access.use_cases.grants import GrantHandlers
from access.use_cases.reports import (
    PendingConnectorRevocations,
    ReportHandlers,
    no_pending_connector_revocations,
)
from chorus_kit.auth import Principal
from chorus_kit.consumer import BatchEventHandler
from chorus_kit.errors import Forbidden
from chorus_kit.events import Event


# --- mirrors of identity ----------------------------------------------------------------------
@dataclass
class AccessHandlers:
    """Identity's employees and org units, mirrored (each event applied once)."""

    employment: EmploymentView
    units: OrgUnitView
    root_unit: str

    async def record_employment_changes(self, events: Sequence[Event]) -> None:
        await self.employment.apply_many(
            [(e.subject, e.sequence, employment.view_update(e)) for e in events]
        )

    async def record_org_unit_changes(self, events: Sequence[Event]) -> None:
        await self.units.apply_many(
            [(e.subject, e.sequence, org_view.view_update(e)) for e in events]
        )

    def employee_event_handlers(self) -> Mapping[str, BatchEventHandler]:
        """Consumed event type -> handler (each takes a run of events of its type)."""
        return {kind: self.record_employment_changes for kind in employment.VIEW_UPDATES}

    def org_unit_event_handlers(self) -> Mapping[str, BatchEventHandler]:
        return {kind: self.record_org_unit_changes for kind in org_view.ORG_UNIT_EVENT_TYPES}

    def event_handlers(self) -> Mapping[str, BatchEventHandler]:
        """Every consumed event type -> its handler (the table, in one place)."""
        return {**self.employee_event_handlers(), **self.org_unit_event_handlers()}

    async def get_employment(self, employee_id: str, *, by: Principal) -> dict[str, Any]:
        record = await self.employment.get(employee_id)
        tree = await self.units.tree()
        if not holds_over(by, READERS, record.get("unit_id") or self.root_unit, tree):
            raise Forbidden("an admin or auditor role over this unit is required")
        return record


__all__ = [
    "AccessHandlers",
    "AccountHandlers",
    "EventsWritten",
    "GrantEffects",
    "GrantHandlers",
    "PendingConnectorRevocations",
    "Reads",
    "ReportHandlers",
    "no_pending_connector_revocations",
    "replica_name",
]
