"""What access's use cases share: the reads every check needs, the relay hand-over,
and the one-time effects that end grants and announce their expiry."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from access.adapters.account_store import AccountStore
from access.adapters.grant_store import GrantStore
from access.adapters.mongo_store import EmploymentView, OrgUnitView
from access.domain import grants as grant_rules
from access.domain.aggregate import utc_now
from access.domain.audit import audited
from access.domain.authorization import Visibility, visibility
from access.domain.grants import SYSTEM, Grant
from access.domain.org_view import UnitTree
from chorus_kit.auth import Principal
from chorus_kit.errors import Conflict
from chorus_kit.events import Event
from chorus_kit.events.identity import EmploymentStatus

log = logging.getLogger(__name__)

# Hands a committed write's events to the outbox relay (collection, document id, events).
EventsWritten = Callable[[AsyncCollection[dict[str, Any]], Any, Sequence[Event]], None]
WRITE_ATTEMPTS = 5


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Reads:
    """What every use case reads: the tree, the caller's visibility, who is employed."""

    accounts: AccountStore
    grants: GrantStore
    employment: EmploymentView
    units: OrgUnitView

    async def visibility(self, by: Principal, tree: UnitTree) -> Visibility:
        by_roles = visibility(by, tree, owned_accounts=(), held_accounts=())
        if by_roles.sees_everything:  # two reads saved on every call of a company admin
            return by_roles
        return visibility(
            by,
            tree,
            owned_accounts=await self.accounts.owned_by(by.sub),
            held_accounts=await self.grants.held_accounts(by.sub),
        )

    async def require_eligible_owner(self, person_id: str, unit_id: str, tree: UnitTree) -> None:
        """Owners are active staff of the account's unit or a unit below it."""
        records = await self.employment.find_many([person_id])
        record = records.get(person_id)
        if (
            record is None
            or record.get("status") != EmploymentStatus.ACTIVE.value
            or record.get("unit_id") not in tree.subtree(unit_id)
        ):
            raise Conflict(
                "an owner must be active staff of the account's unit or a unit below it",
                code="owner_not_eligible",
            )


# --- one-time effects on grants ---------------------------------------------------------------
@dataclass
class GrantEffects:
    """Ending a grant and announcing its expiry: each happens once, whoever tries.

    Every attempt first claims the effect (an insert, atomic on every database; see
    `access.adapters.grant_store`), then writes the grant conditionally (`revoked_at:
    null`, `expiring_sent: false`, unchanged `sequence`). The loser of the claim does
    nothing; a claim whose winner died is finished by `finish_stale_claims`.
    """

    grants: GrantStore
    events_written: EventsWritten
    replica: str = field(default_factory=replica_name)

    async def end(
        self,
        grant_id: str,
        *,
        at: datetime,
        actor: str,
        reason: str,
        offboarding_id: str | None = None,
    ) -> Grant | None:
        """The grant ended (expired, if `at` is past its expiry); None if it ended already or
        another caller is ending it."""
        claim = self._claim(
            f"{grant_id}:end",
            grant_id,
            at=at,
            actor=actor,
            reason=reason,
            offboarding_id=offboarding_id,
        )
        if not await self.grants.claim(claim):
            return None
        return await self.finish(claim)

    async def announce_expiry(self, grant_id: str) -> Grant | None:
        claim = self._claim(f"{grant_id}:expiring", grant_id, at=utc_now(), actor=SYSTEM)
        if not await self.grants.claim(claim):
            return None
        return await self.finish(claim)

    def _claim(self, claim_id: str, grant_id: str, **facts: Any) -> dict[str, Any]:
        return {
            "_id": claim_id,
            "grant_id": grant_id,
            "effect": claim_id.rsplit(":", 1)[1],
            "claimed_by": self.replica,
            "claimed_at": utc_now(),
            **facts,
        }

    async def finish(self, claim: dict[str, Any]) -> Grant | None:
        """Apply a claimed effect to the grant (again, harmlessly, if it was applied)."""
        effect = claim["_id"]
        for _ in range(WRITE_ATTEMPTS):
            grant = await self.grants.find(claim["grant_id"])
            if grant is None or not grant.is_open:
                break
            if claim["effect"] == "end":
                after = grant_rules.end(
                    grant,
                    at=claim["at"],
                    by=claim["actor"],
                    reason=claim["reason"],
                    effect=effect,
                    offboarding_id=claim.get("offboarding_id"),
                )
                kind = after.pending_events[-1].type.rsplit(".", 1)[1]  # revoked or expired
                actor = SYSTEM if kind == "expired" else claim["actor"]
            else:
                if grant.expiring_sent:
                    break
                after = grant_rules.mark_expiring(grant, effect=effect)
                kind, actor = "expiring", SYSTEM
            after = audited(
                after,
                actor=actor,
                action=f"grant.{kind}",
                target_type="grant",
                unit_id=grant.account_unit_id,
                effect=effect,
                details={
                    "account_id": grant.account_id,
                    "holder_id": grant.holder_id,
                    "role": grant.role.value,
                    "reason": after.revoke_reason,
                },
            )
            if await self.grants.save(after, expected_sequence=grant.sequence):
                self.events_written(self.grants.collection, after.id, after.pending_events)
                await self.grants.claim_finished(effect)
                return after
        else:
            log.warning("grant effect %s kept losing to other writes; left to the sweep", effect)
            return None
        await self.grants.claim_finished(effect)
        return None

    async def finish_stale_claims(self, *, claimed_before: datetime) -> int:
        """Finish effects whose claimer died between its claim and its write."""
        done = 0
        for claim in await self.grants.unfinished_claims(claimed_before=claimed_before):
            if await self.finish(claim) is not None:
                done += 1
        return done
