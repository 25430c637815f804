"""Use cases of reports: access at any time, former staff with access (and its alert), audit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from access.adapters.alert_store import AlertStore
from access.domain.aggregate import SOURCE, utc_now
from access.domain.authorization import READERS, Visibility, require_reader, units_covered
from access.domain.grants import SYSTEM
from access.domain.reports import (
    AccessRow,
    FormerStaffEntry,
    former_staff_with_access,
    situation_signature,
)
from access.use_cases.common import EventsWritten, Reads
from chorus_kit.audit import AuditLog
from chorus_kit.auth import Principal
from chorus_kit.errors import Forbidden
from chorus_kit.events import new_event
from chorus_kit.events.access import FormerStaffWithAccess
from chorus_kit.events.audit import AuditRecorded

log = logging.getLogger(__name__)

FORMER_STAFF_ALERT = "chorus.platform.alert.former_staff_with_access"


class PendingConnectorRevocations(Protocol):
    """Revocation calls to the networks not yet acknowledged, per person.

    The hook the connectors work plugs in (`ReportHandlers.pending_connector_revocations`):
    `person_ids=None` asks for everyone with a pending call.
    """

    async def __call__(self, person_ids: Sequence[str] | None) -> dict[str, int]: ...


async def no_pending_connector_revocations(person_ids: Sequence[str] | None) -> dict[str, int]:
    """Until connectors exist, no revocation on a network can be pending."""
    return {}


@dataclass
class ReportHandlers:
    reads: Reads
    alerts: AlertStore
    audit: AuditLog
    events_written: EventsWritten
    pending_connector_revocations: PendingConnectorRevocations = no_pending_connector_revocations
    alert_grace: timedelta = timedelta(seconds=60)

    async def _scope(self, by: Principal, unit_id: str | None) -> set[str] | None:
        """The units an admin or auditor reports on (None: all), narrowed to `unit_id`."""
        require_reader(by)
        tree = await self.reads.units.tree()
        covered = units_covered(by, tree, READERS)
        if unit_id is None:
            return covered
        if covered is not None and unit_id not in covered:
            raise Forbidden("that unit is outside your roles", code="unit_out_of_scope")
        return tree.subtree(unit_id)

    async def access_at(
        self,
        *,
        by: Principal,
        at: datetime,
        unit_id: str | None = None,
        account_id: str | None = None,
        holder_id: str | None = None,
        after: str | None = None,
        limit: int = 1000,
    ) -> list[AccessRow]:
        """Who had which access at `at` (now or any past time), by grant id."""
        scope = await self._scope(by, unit_id)
        grants = await self.reads.grants.search(
            visibility=Visibility.everything(by.sub),
            at=at,
            unit_ids=scope,
            account_id=account_id,
            holder_id=holder_id,
            after=after,
            limit=limit,
        )
        accounts = {
            a.id: a for a in await self.reads.accounts.get_many(g.account_id for g in grants)
        }
        people = await self.reads.employment.find_many(g.holder_id for g in grants)
        rows = []
        for grant in grants:
            account = accounts.get(grant.account_id)
            person = people.get(grant.holder_id, {})
            rows.append(
                AccessRow(
                    grant=grant,
                    network=account.network.value if account else None,
                    handle=account.handle if account else None,
                    holder_email=person.get("email"),
                    holder_status=person.get("status"),
                )
            )
        return rows

    async def former_staff(self, *, by: Principal) -> list[FormerStaffEntry]:
        return await self._former_staff(await self._scope(by, None))

    async def _former_staff(self, units: set[str] | None) -> list[FormerStaffEntry]:
        everyone = Visibility.everything(SYSTEM)
        holders = await self.reads.grants.active_holders()
        pending = await self.pending_connector_revocations(None)
        records = await self.reads.employment.find_many([*holders, *pending])
        leavers = [p for p, r in records.items() if r.get("status") == "offboarded"]
        open_grants = [
            g
            for g in await self.reads.grants.of_keys(
                "holder_id", leavers, visibility=everyone, active_only=True
            )
            if units is None or g.account_unit_id in units
        ]
        entries = former_staff_with_access(
            employment=records,
            open_grants=open_grants,
            pending_connector_revocations=pending,
        )
        if units is None:
            return entries
        return [e for e in entries if e.open_grants or (e.unit_id in units)]

    async def check_former_staff(self) -> bool:
        """Raise the alert if anyone who left still has access; once per distinct situation.

        People who left less than `alert_grace` ago are not counted yet: the leaver flow is
        revoking their access at that moment (the report shows them all the same)."""
        cutoff = utc_now() - self.alert_grace
        entries = [
            e
            for e in await self._former_staff(None)
            if e.employed_until is None or e.employed_until <= cutoff
        ]
        if not entries:
            return False
        alert_id = f"former_staff_with_access:{situation_signature(entries)[:40]}"
        alert = new_event(
            FORMER_STAFF_ALERT,
            source=SOURCE,
            subject=alert_id,
            sequence=1,
            data=FormerStaffWithAccess(
                person_ids=[e.person_id for e in entries],
                open_grants=sum(len(e.open_grants) for e in entries),
                unacknowledged_connector_calls=sum(
                    e.pending_connector_revocations for e in entries
                ),
            ),
        )
        if not await self.alerts.raise_once(alert_id, alert, at=utc_now()):
            return False
        self.events_written(self.alerts.collection, alert_id, [alert])
        log.error("former staff still have access", extra={"people": len(entries)})
        return True

    async def read_audit(
        self,
        *,
        by: Principal,
        actor: str | None,
        action: str | None,
        target_id: str | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[AuditRecorded]:
        """Access's audit log, newest first: auditors and admins, for the units they cover."""
        scope = await self._scope(by, None)
        return await self.audit.search(
            units=scope,
            actor=actor,
            action=action,
            target_id=target_id,
            before=before,
            limit=limit,
        )
