"""Use cases of the account register: accounts, their owners and the owner grants they imply."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from access.adapters.account_store import AccountStore
from access.domain import accounts as account_rules
from access.domain import grants as grant_rules
from access.domain.accounts import Account, ClassificationPolicy, OwnerGrantOp
from access.domain.aggregate import utc_now
from access.domain.audit import audited
from access.domain.authorization import require_admin_over, require_may_add_owner
from access.domain.commands import AddOwner, RegisterAccount, UpdateAccount
from access.domain.grants import SYSTEM, AccessRequest
from access.use_cases.common import WRITE_ATTEMPTS, EventsWritten, GrantEffects, Reads
from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict, Forbidden
from chorus_kit.events.access import Classification


@dataclass
class AccountHandlers:
    reads: Reads
    effects: GrantEffects
    policies: Mapping[Classification, ClassificationPolicy]
    events_written: EventsWritten

    @property
    def accounts(self) -> AccountStore:
        return self.reads.accounts

    async def register_account(self, command: RegisterAccount, *, by: Principal) -> Account:
        tree = await self.reads.units.tree()
        if not tree.exists(command.unit_id):
            raise ChorusError("the owning org unit does not exist", code="unit_not_found")
        if not tree.is_open(command.unit_id):
            raise Conflict("the owning org unit is closed", code="unit_closed")
        require_admin_over(by, command.unit_id, tree)
        for owner in dict.fromkeys(command.owners):
            await self.reads.require_eligible_owner(owner, command.unit_id, tree)
        account = account_rules.register(
            network=command.network,
            handle=command.handle,
            url=str(command.url) if command.url else None,
            unit_id=command.unit_id,
            purpose=command.purpose,
            classification=command.classification,
            policy=self.policies[command.classification],
            owners=command.owners,
            by=by.sub,
            now=utc_now(),
        )
        account = audited(
            account,
            actor=by.sub,
            action="account.registered",
            target_type="account",
            unit_id=account.unit_id,
            details={"owners": ",".join(account.owners)},
        )
        await self.accounts.add(account)
        self.events_written(self.accounts.collection, account.id, account.pending_events)
        await self.sync_owner_grants(account.id)
        return account

    async def update_account(
        self, account_id: str, command: UpdateAccount, *, by: Principal
    ) -> Account:
        account = await self.accounts.get(account_id)
        require_admin_over(by, account.unit_id, await self.reads.units.tree())
        changes: dict[str, object] = command.model_dump(exclude_unset=True)
        if "url" in changes:
            changes["url"] = str(command.url) if command.url else None
        updated = account_rules.update_details(
            account, changes=changes, policy_for=dict(self.policies)
        )
        if updated is account:
            return account
        updated = audited(
            updated,
            actor=by.sub,
            action="account.updated",
            target_type="account",
            unit_id=account.unit_id,
            details={"changed": ",".join(sorted(changes))},
        )
        await self.accounts.save(updated, expected_sequence=account.sequence)
        self.events_written(self.accounts.collection, updated.id, updated.pending_events)
        return updated

    async def get_account(self, account_id: str, *, by: Principal) -> Account:
        account = await self.accounts.get(account_id)
        seen = await self.reads.visibility(by, await self.reads.units.tree())
        if not seen.sees_account(account.id, account.unit_id):
            raise Forbidden("you may not read this account", code="not_allowed_to_read")
        return account

    async def get_accounts(self, account_ids: Sequence[str], *, by: Principal) -> list[Account]:
        """Many accounts in one call (the gateway's DataLoaders); unseen ones are left out."""
        seen = await self.reads.visibility(by, await self.reads.units.tree())
        found = {a.id: a for a in await self.accounts.get_many(account_ids)}
        return [
            found[i]
            for i in dict.fromkeys(account_ids)
            if i in found and seen.sees_account(i, found[i].unit_id)
        ]

    async def list_accounts(
        self,
        *,
        by: Principal,
        unit_id: str | None = None,
        classification: Classification | None = None,
        coverage_low: bool | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> list[Account]:
        tree = await self.reads.units.tree()
        return await self.accounts.search(
            await self.reads.visibility(by, tree),
            unit_ids=tree.subtree(unit_id) if unit_id else None,
            classification=classification,
            coverage_low=coverage_low,
            after=after,
            limit=limit,
        )

    async def add_owner(self, account_id: str, command: AddOwner, *, by: Principal) -> Account:
        account = await self.accounts.get(account_id)
        tree = await self.reads.units.tree()
        require_may_add_owner(by, account, tree)
        await self.reads.require_eligible_owner(command.person_id, account.unit_id, tree)
        now = utc_now()
        return await self._change_ownership(
            account_id,
            lambda a: account_rules.add_owner(a, command.person_id, by=by.sub, now=now),
            actor=by.sub,
            action="account.owner_added",
            details={"owner_id": command.person_id},
        )

    async def remove_owner(
        self, account_id: str, person_id: str, *, by: Principal, reason: str
    ) -> Account:
        account = await self.accounts.get(account_id)
        require_admin_over(by, account.unit_id, await self.reads.units.tree())
        now = utc_now()
        return await self._change_ownership(
            account_id,
            lambda a: account_rules.remove_owner(a, person_id, by=by.sub, reason=reason, now=now),
            actor=by.sub,
            action="account.owner_removed",
            details={"owner_id": person_id, "reason": reason},
        )

    async def hand_over_ownership(
        self,
        account_id: str,
        *,
        leaving_id: str,
        successor_id: str | None,
        actor: str,
        reason: str,
        offboarding_id: str | None = None,
    ) -> Account | None:
        """For the leaver flow: `leaving_id`'s ownership ends and passes to `successor_id`
        (None: to nobody; coverage may drop and alert). None if they own it no longer."""
        now = utc_now()
        try:
            return await self._change_ownership(
                account_id,
                lambda a: account_rules.hand_over(
                    a,
                    leaving_id,
                    successor_id,
                    by=actor,
                    reason=reason,
                    now=now,
                    offboarding_id=offboarding_id,
                ),
                actor=actor,
                action="account.ownership_handed_over",
                details={"from": leaving_id, "to": successor_id, "offboarding_id": offboarding_id},
            )
        except Conflict as exc:
            if exc.code == "not_an_owner":
                return None
            raise

    async def add_owner_for_request(self, request: AccessRequest) -> str:
        """An approved ownership request makes its requester an owner (once); the owner
        grant's id."""
        assert request.grant_id is not None and request.decided_by is not None
        account = await self.accounts.get(request.account_id)
        existing = account.owner_grant_of(request.requester_id)
        if existing is not None:
            return existing
        now = utc_now()
        grant_id = request.grant_id
        await self._change_ownership(
            account.id,
            lambda a: account_rules.add_owner(
                a,
                request.requester_id,
                by=request.decided_by or SYSTEM,
                now=now,
                grant_id=grant_id,
                request_id=request.id,
            ),
            actor=request.decided_by,
            action="account.owner_added",
            details={"owner_id": request.requester_id, "request_id": request.id},
        )
        return grant_id

    async def _change_ownership(
        self,
        account_id: str,
        change: Callable[[Account], Account],
        *,
        actor: str,
        action: str,
        details: dict[str, str | int | bool | None],
    ) -> Account:
        for attempt in range(WRITE_ATTEMPTS):
            account = await self.accounts.get(account_id)
            after = audited(
                change(account),
                actor=actor,
                action=action,
                target_type="account",
                unit_id=account.unit_id,
                details=details,
            )
            try:
                await self.accounts.save(after, expected_sequence=account.sequence)
            except Conflict as exc:
                if exc.code == "concurrent_change" and attempt < WRITE_ATTEMPTS - 1:
                    continue
                raise
            self.events_written(self.accounts.collection, after.id, after.pending_events)
            await self.sync_owner_grants(after.id)
            return after
        raise AssertionError("unreachable")

    async def sync_owner_grants(self, account_id: str) -> None:
        """Apply the account's pending owner grant changes: open grants (insert, once), close
        them (a one-time effect), then forget the changes."""
        account, changes = await self.accounts.owner_changes_of(account_id)
        for change in changes:
            if change.op is OwnerGrantOp.OPEN:
                grant = grant_rules.owner_grant(
                    change, account_id=account.id, account_unit_id=account.unit_id
                )
                grant = audited(
                    grant,
                    actor=change.by,
                    action="grant.granted",
                    target_type="grant",
                    unit_id=account.unit_id,
                    details={
                        "account_id": account.id,
                        "holder_id": change.person_id,
                        "role": "owner",
                    },
                )
                if await self.reads.grants.add(grant):
                    self.events_written(
                        self.reads.grants.collection, grant.id, grant.pending_events
                    )
            else:
                await self.effects.end(
                    change.grant_id,
                    at=change.at,
                    actor=change.by,
                    reason=change.reason or "ownership removed",
                    offboarding_id=change.offboarding_id,
                )
        await self.accounts.owner_changes_applied(
            account.id, [c.key for c in changes], sequence=account.sequence
        )

    async def sweep_owner_grants(self, *, changed_before: datetime) -> int:
        """Finish owner grant changes whose writer died after the account's write."""
        swept = 0
        for account, changes in await self.accounts.pending_owner_changes():
            if all(c.at < changed_before for c in changes):
                await self.sync_owner_grants(account.id)
                swept += 1
        return swept
