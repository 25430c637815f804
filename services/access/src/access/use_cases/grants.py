"""Use cases of requests and grants: ask, decide, grant, revoke, read, and the scheduler's tick."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from access.adapters.grant_store import GrantStore, GrantView
from access.adapters.request_store import RequestStore
from access.domain import grants as grant_rules
from access.domain.accounts import Account
from access.domain.aggregate import utc_now
from access.domain.audit import audited
from access.domain.authorization import require_may_decide, require_may_revoke
from access.domain.commands import RequestAccess
from access.domain.grants import EXPIRED, SYSTEM, AccessRequest, Grant, RequestStatus
from access.use_cases.accounts import AccountHandlers
from access.use_cases.common import EventsWritten, GrantEffects, Reads
from chorus_kit.auth import Principal
from chorus_kit.errors import Conflict, Forbidden
from chorus_kit.events.access import AccountRole
from chorus_kit.events.identity import EmploymentStatus

log = logging.getLogger(__name__)


@dataclass
class GrantHandlers:
    reads: Reads
    requests: RequestStore
    effects: GrantEffects
    owners: AccountHandlers
    events_written: EventsWritten
    expiring_lead: timedelta
    claim_stale_after: timedelta
    # How often the scheduler rescans `grants` (and sweeps what dead processes left
    # half-done); in between it asks `GrantStore.due` (in memory). None: every tick.
    resync_every: timedelta | None = None
    _resynced_at: float | None = field(default=None, init=False)

    @property
    def grants(self) -> GrantStore:
        return self.reads.grants

    # --- the vault's and the leaver flow's entry points --------------------------------------
    async def active_grant(
        self, account_id: str, holder_id: str, roles: Iterable[AccountRole]
    ) -> GrantView | None:
        """The grant by which `holder_id` holds one of `roles` on the account now, if any."""
        return await self.grants.active_grant(account_id, holder_id, roles)

    async def end_grant(
        self,
        grant_id: str,
        *,
        actor: str,
        reason: str,
        offboarding_id: str | None = None,
    ) -> Grant | None:
        """End a publisher or viewer grant now (idempotent: None if it had ended). Owner
        grants end through `AccountHandlers.hand_over_ownership`."""
        grant = await self.grants.get(grant_id)
        if grant.role is AccountRole.OWNER:
            raise Conflict("ownership ends through the account", code="owner_grant")
        if not grant.is_open:
            return None
        return await self.effects.end(
            grant_id, at=utc_now(), actor=actor, reason=reason, offboarding_id=offboarding_id
        )

    # --- requests ---------------------------------------------------------------------------
    async def request_access(self, command: RequestAccess, *, by: Principal) -> AccessRequest:
        account = await self.reads.accounts.get(command.account_id)
        tree = await self.reads.units.tree()
        seen = await self.reads.visibility(by, tree)
        if not seen.sees_account(account.id, account.unit_id):
            raise Forbidden("you may not see this account", code="not_allowed_to_read")
        records = await self.reads.employment.find_many([by.sub])
        if records.get(by.sub, {}).get("status") != EmploymentStatus.ACTIVE.value:
            raise Forbidden("only active staff request access", code="not_employed")
        if command.role is AccountRole.OWNER:
            await self.reads.require_eligible_owner(by.sub, account.unit_id, tree)
        await self._require_not_holding(account, by.sub, command.role)
        if await self.requests.pending_of(
            requester_id=by.sub, account_id=account.id, role=command.role
        ):
            raise Conflict(
                "you asked for this already; it awaits a decision", code="request_pending"
            )
        grant_rules.grant_lifetime(
            command.role, command.seconds, max_grant_days=account.policy.max_grant_days
        )
        employed = await self.reads.employment.active_among(account.owners)
        request = grant_rules.request_access(
            account_id=account.id,
            account_unit_id=account.unit_id,
            requester_id=by.sub,
            role=command.role,
            justification=command.justification,
            duration_seconds=command.seconds,
            deciders=grant_rules.deciders_for(account.owners, by.sub, employed=employed),
            now=utc_now(),
        )
        request = audited(
            request,
            actor=by.sub,
            action="access.requested",
            target_type="access_request",
            unit_id=account.unit_id,
            details={"account_id": account.id, "role": command.role.value},
        )
        await self.requests.add(request)
        self.events_written(self.requests.collection, request.id, request.pending_events)
        return request

    async def _require_not_holding(
        self, account: Account, person_id: str, role: AccountRole
    ) -> None:
        if person_id in account.owners or await self.grants.active_grant(
            account.id, person_id, [role]
        ):
            raise Conflict("this person holds that access already", code="already_holds")

    async def approve_request(
        self, request_id: str, *, by: Principal, reason: str | None = None
    ) -> tuple[AccessRequest, Grant | None]:
        request = await self.requests.get(request_id)
        account = await self.reads.accounts.get(request.account_id)
        require_may_decide(by, request, account.owners)
        if request.status is not RequestStatus.PENDING:
            raise Conflict(f"the request is {request.status.value} already", code="already_decided")
        if not await self.reads.employment.active_among([request.requester_id]):
            raise Conflict("the requester is not active staff", code="requester_not_employed")
        await self._require_not_holding(account, request.requester_id, request.role)
        lifetime = grant_rules.lifetime_at_approval(
            request.role, request.duration_seconds, max_grant_days=account.policy.max_grant_days
        )
        approved = grant_rules.approve(
            request, by=by.sub, now=utc_now(), lifetime=lifetime, reason=reason
        )
        approved = audited(
            approved,
            actor=by.sub,
            action="access.approved",
            target_type="access_request",
            unit_id=account.unit_id,
            details={
                "account_id": account.id,
                "role": request.role.value,
                "requester": request.requester_id,
            },
        )
        await self._decided(request, approved)
        return approved, await self.make_grant(approved)

    async def deny_request(
        self, request_id: str, *, by: Principal, reason: str | None = None
    ) -> AccessRequest:
        request = await self.requests.get(request_id)
        account = await self.reads.accounts.get(request.account_id)
        require_may_decide(by, request, account.owners)
        denied = grant_rules.deny(request, by=by.sub, now=utc_now(), reason=reason)
        denied = audited(
            denied,
            actor=by.sub,
            action="access.denied",
            target_type="access_request",
            unit_id=account.unit_id,
            details={
                "account_id": account.id,
                "role": request.role.value,
                "requester": request.requester_id,
            },
        )
        await self._decided(request, denied)
        return denied

    async def _decided(self, before: AccessRequest, after: AccessRequest) -> None:
        if not await self.requests.save(after, expected_sequence=before.sequence):
            raise Conflict("the request was decided meanwhile", code="already_decided")
        self.events_written(self.requests.collection, after.id, after.pending_events)

    async def make_grant(self, request: AccessRequest) -> Grant | None:
        """Write the grant an approval names (once, however often called)."""
        assert request.grant_id is not None
        if not await self.reads.employment.active_among([request.requester_id]):
            # They left between the approval and now: no access for a leaver.
            log.warning("approved request %s not granted: requester left", request.id)
            await self.requests.grant_written(request.id, grant_id=request.grant_id)
            return None
        if request.role is AccountRole.OWNER:
            grant_id = await self.owners.add_owner_for_request(request)
        else:
            grant = audited(
                grant_rules.grant_for_request(request),
                actor=request.decided_by or SYSTEM,
                action="grant.granted",
                target_type="grant",
                unit_id=request.account_unit_id,
                details={
                    "account_id": request.account_id,
                    "holder_id": request.requester_id,
                    "role": request.role.value,
                    "request_id": request.id,
                },
            )
            if await self.grants.add(grant):
                self.events_written(self.grants.collection, grant.id, grant.pending_events)
            grant_id = grant.id
        await self.requests.grant_written(request.id, grant_id=grant_id)
        return await self.grants.find(grant_id)

    async def get_request(self, request_id: str, *, by: Principal) -> AccessRequest:
        request = await self.requests.get(request_id)
        seen = await self.reads.visibility(by, await self.reads.units.tree())
        if not seen.sees_request(request):
            raise Forbidden("you may not read this request", code="not_allowed_to_read")
        return request

    async def list_requests(
        self,
        *,
        by: Principal,
        status: RequestStatus | None = None,
        account_id: str | None = None,
        requester_id: str | None = None,
        to_decide: bool = False,
        after: str | None = None,
        limit: int = 50,
    ) -> list[AccessRequest]:
        """Requests the caller may see; `to_decide`: those awaiting their decision."""
        seen = await self.reads.visibility(by, await self.reads.units.tree())
        return await self.requests.search(
            visibility=seen,
            status=RequestStatus.PENDING if to_decide else status,
            account_id=account_id,
            requester_id=requester_id,
            decider_id=by.sub if to_decide else None,
            after=after,
            limit=limit,
        )

    # --- grants -----------------------------------------------------------------------------
    async def revoke_grant(self, grant_id: str, *, by: Principal, reason: str) -> Grant:
        grant = await self.grants.get(grant_id)
        account = await self.reads.accounts.get(grant.account_id)
        tree = await self.reads.units.tree()
        require_may_revoke(by, grant, account, tree)
        now = utc_now()
        if not grant.is_open or grant_rules.has_expired(grant, now):
            raise Conflict("the grant has ended already", code="grant_not_open")
        if grant.role is AccountRole.OWNER:
            if account.owner_grant_of(grant.holder_id) != grant.id:
                raise Conflict("the grant has ended already", code="grant_not_open")
            await self.owners.remove_owner(account.id, grant.holder_id, by=by, reason=reason)
            return await self.grants.get(grant_id)
        ended = await self.effects.end(grant_id, at=now, actor=by.sub, reason=reason)
        if ended is None:
            raise Conflict("the grant has ended already", code="grant_not_open")
        return ended

    async def get_grant(self, grant_id: str, *, by: Principal) -> Grant:
        grant = await self.grants.get(grant_id)
        seen = await self.reads.visibility(by, await self.reads.units.tree())
        if not seen.sees_grant(grant):
            raise Forbidden("you may not read this grant", code="not_allowed_to_read")
        return grant

    async def list_grants(
        self,
        *,
        by: Principal,
        account_id: str | None = None,
        holder_id: str | None = None,
        active_only: bool = True,
        after: str | None = None,
        limit: int = 50,
    ) -> list[Grant]:
        seen = await self.reads.visibility(by, await self.reads.units.tree())
        return await self.grants.search(
            visibility=seen,
            at=utc_now() if active_only else None,
            account_id=account_id,
            holder_id=holder_id,
            after=after,
            limit=limit,
        )

    async def grants_by(
        self, key: str, values: Sequence[str], *, by: Principal, active_only: bool = True
    ) -> dict[str, list[Grant]]:
        """Grants of many holders (`holder_id`) or accounts (`account_id`) in one call, grouped
        by the key in the order asked; only those the caller may see."""
        seen = await self.reads.visibility(by, await self.reads.units.tree())
        groups: dict[str, list[Grant]] = {v: [] for v in dict.fromkeys(values)}
        for grant in await self.grants.of_keys(
            key, list(groups), visibility=seen, active_only=active_only
        ):
            groups[getattr(grant, key)].append(grant)
        return groups

    # --- the scheduler ----------------------------------------------------------------------
    async def run_schedule(self, now: datetime | None = None) -> dict[str, int]:
        """One tick, safe on every replica at once (each effect is claimed, then written
        conditionally): announce expiries due within the lead, end grants past their expiry,
        and, at start and every `resync_every`, rescan the grants and finish what dead
        processes left half-done.

        What is due comes from `GrantStore.due` (in memory: no read of `grants` when nothing
        is due), fed by this process's writes and by the rescans. Worst-case lateness of an
        expiry (or its notice) made through this replica: one scheduler interval plus one
        claim insert and one grant write. Made through another replica: that replica's
        scheduler does it as fast; if it died, the next rescan here (`resync_every`) plus
        one interval. If the replica that claimed an effect dies before writing it:
        `claim_stale_after` plus `resync_every` plus one interval.
        """
        now = now or utc_now()
        counts = {"expiring": 0, "expired": 0, "claims": 0, "owner_syncs": 0, "approvals": 0}
        clock = time.monotonic()
        resync = (
            self.resync_every is None
            or self._resynced_at is None
            or clock - self._resynced_at >= self.resync_every.total_seconds()
        )
        if resync:
            await self.grants.resync_due()
        announce, end = self.grants.due.due(now=now, lead=self.expiring_lead)
        if announce or end:
            # Whatever happens to them now, they are due again only once read again (our
            # own write notes their new state; another's effect, the next rescan).
            self.grants.due.forget([*announce, *end])
            for grant in await self.grants.get_many([*announce, *end]):
                if grant.expires_at is None or not grant.is_open:
                    continue
                if grant.expires_at <= now:
                    ended = await self.effects.end(
                        grant.id, at=grant.expires_at, actor=SYSTEM, reason=EXPIRED
                    )
                    counts["expired"] += ended is not None
                elif grant_rules.expiring_due(grant, now=now, lead=self.expiring_lead):
                    counts["expiring"] += await self.effects.announce_expiry(grant.id) is not None
        if resync:
            stale = now - self.claim_stale_after
            counts["claims"] = await self.effects.finish_stale_claims(claimed_before=stale)
            counts["owner_syncs"] = await self.owners.sweep_owner_grants(changed_before=stale)
            for request in await self.requests.approvals_without_grant(decided_before=stale):
                await self.make_grant(request)
                counts["approvals"] += 1
            self._resynced_at = clock
        return counts
