"""The vault's use cases: record secrets, check them out and in, flag and clear rotation.

Who may do what (roles held over the account's unit cover its subtree):
- owners (an active `owner` grant on the account) record secrets and new versions;
- owners and publishers with an active grant check a secret out; viewers cannot;
- a lease's holder checks it in (an owner may end anyone's lease on their account);
- owners, publishers, and admins or auditors over the account's unit see secret metadata;
- owners, and admins or auditors over the unit, see lease history; a holder sees own leases.
Every state change is one document write carrying its events and its audit entry.

For the leaver flow: `flag_secrets_checked_out_by` and `end_leases_of` (idempotent per
secret, person, reason and offboarding; safe to call again after a crash).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from pydantic import SecretStr
from pymongo.asynchronous.collection import AsyncCollection

from access.adapters.vault_crypto import Envelope, SecretUnreadable
from access.adapters.vault_directory import AccountDirectory, AccountFacts
from access.adapters.vault_store import LeaseStore, SecretStore
from access.domain import vault
from access.domain.aggregate import utc_now
from access.domain.audit import audited
from access.domain.authorization import holds_over
from access.domain.org_view import UnitTree
from access.domain.vault import Handout, Lease, LeaseEnd, LeaseStatus, RotationReason, Secret
from chorus_kit.audit import AuditLog, audit_entry
from chorus_kit.auth import Principal
from chorus_kit.errors import Conflict, Forbidden
from chorus_kit.events import Event
from chorus_kit.events.access import (
    AccountRole,
    GrantExpired,
    GrantRevoked,
    GrantSnapshot,
    SecretKind,
)
from chorus_kit.events.audit import AuditOutcome
from chorus_kit.events.identity import Role

log = logging.getLogger(__name__)

SYSTEM = "system"
GRANT_REVOKED = "chorus.access.grant.revoked"
GRANT_EXPIRED = "chorus.access.grant.expired"
# A write that met a concurrent change is re-read and re-applied at most this often.
WRITE_ATTEMPTS = 5

# Hands a committed write's events to the outbox relay (collection, document id, events).
EventsWritten = Callable[[AsyncCollection[dict[str, Any]], str, Sequence[Event]], None]
T = TypeVar("T")
OWNER = (AccountRole.OWNER,)
CHECK_OUT = vault.CHECK_OUT_ROLES


class HeldGrant(Protocol):
    @property
    def id(self) -> str: ...


class UnitTreeSource(Protocol):
    """Access's mirror of the org tree (the access core's `OrgUnitView`)."""

    async def tree(self) -> UnitTree: ...


class GrantChecker(Protocol):
    """The access core's answer to "does this person hold one of these roles now"."""

    async def active_grant(
        self, account_id: str, holder_id: str, roles: Iterable[AccountRole]
    ) -> HeldGrant | None: ...


@dataclass(frozen=True)
class TickReport:
    leases_expired: int = 0
    flags_settled: int = 0
    secrets_past_max_age: int = 0


@dataclass
class VaultHandlers:
    secrets: SecretStore
    leases: LeaseStore
    directory: AccountDirectory
    grants: GrantChecker
    units: UnitTreeSource
    envelope: Envelope
    events_written: EventsWritten
    # Standalone audit entries (refused check-outs); None where no audit log is wired.
    audit_log: AuditLog | None = None
    clock: Callable[[], datetime] = utc_now

    async def prepare(self) -> None:
        await self.secrets.prepare()
        await self.leases.prepare()

    @property
    def collections(self) -> list[AsyncCollection[dict[str, Any]]]:
        """The collections whose outboxes the relay publishes."""
        return [self.secrets.collection, self.leases.collection]

    # --- recording secrets ------------------------------------------------------------------
    async def record_secret(
        self,
        account_id: str,
        kind: SecretKind,
        *,
        value: SecretStr | None,
        codes: Sequence[SecretStr] | None,
        totp: vault.TotpParameters | None,
        by: Principal,
    ) -> Secret:
        """A secret's first version, or a new one (a rotation: clears its rotation flags)."""
        account = await self._active_account(account_id)
        if await self.grants.active_grant(account_id, by.sub, OWNER) is None:
            raise Forbidden("only an owner of the account records its secrets", code="not_an_owner")
        plaintext = vault.encode_value(
            kind,
            value=value.get_secret_value() if value is not None else None,
            codes=[c.get_secret_value() for c in codes] if codes is not None else None,
        )
        secret_id = vault.secret_id_for(account_id, kind)

        async def attempt() -> Secret:
            before = await self.secrets.find(secret_id)
            number = vault.next_version(before)
            sealed = await self.envelope.seal(
                plaintext,
                associated_data=vault.associated_data(
                    account_id=account_id, secret_id=secret_id, kind=kind, version=number
                ),
            )
            recorded = vault.record_version(
                before,
                account_id=account_id,
                account_unit_id=account.unit_id,
                kind=kind,
                sealed=sealed,
                totp=totp or vault.TotpParameters(),
                by=by.sub,
                now=self.clock(),
            )
            after = audited(
                recorded,
                actor=by.sub,
                action="vault.secret_recorded" if before is None else "vault.secret_rotated",
                target_type="secret",
                unit_id=account.unit_id,
                details={
                    "account_id": account_id,
                    "kind": kind.value,
                    "version": number,
                    "cleared_flags": len(before.rotation_flags) if before else 0,
                },
            )
            if before is None:
                await self.secrets.add(after)
            else:
                await self.secrets.save(after, expected_sequence=before.sequence)
            self.events_written(self.secrets.collection, after.id, after.pending_events)
            return after

        return await _retrying(attempt)

    # --- reading metadata ---------------------------------------------------------------------
    async def list_secrets(self, account_id: str, *, by: Principal) -> list[Secret]:
        account = await self.directory.account(account_id)
        await self._require_metadata_reader(account, by)
        return await self.secrets.for_account(account_id)

    async def get_secret(self, account_id: str, kind: SecretKind, *, by: Principal) -> Secret:
        account = await self.directory.account(account_id)
        await self._require_metadata_reader(account, by)
        return await self.secrets.get(vault.secret_id_for(account_id, kind))

    # --- check-out and check-in ---------------------------------------------------------------
    async def check_out(
        self, account_id: str, kind: SecretKind, *, minutes: int | None, by: Principal
    ) -> tuple[Lease, Handout]:
        """A lease, and the secret (for TOTP the current code) handed out this once."""
        lifetime = vault.lease_lifetime(minutes)
        account = await self._active_account(account_id)
        now = self.clock()
        grant = await self.grants.active_grant(account_id, by.sub, CHECK_OUT)
        secret_id = vault.secret_id_for(account_id, kind)
        if grant is None:
            await self._record_refusal(by, account, secret_id, kind)
            raise Forbidden(
                "checking out needs an active owner or publisher grant on the account",
                code="no_active_grant",
            )
        secret = await self.secrets.get(secret_id)
        try:
            plaintext = await self.envelope.open(
                secret.current.sealed,
                associated_data=vault.associated_data(
                    account_id=secret.account_id,
                    secret_id=secret.id,
                    kind=secret.kind,
                    version=secret.current.number,
                ),
            )
        except SecretUnreadable:
            log.error("a stored secret failed to open", extra={"secret_id": secret.id})
            raise
        given = vault.handout(secret, plaintext, now)
        lease = audited(
            vault.check_out(
                secret,
                holder_id=by.sub,
                grant_id=grant.id,
                lifetime=lifetime,
                rotate_after=account.rotate_after_checkout,
                now=now,
            ),
            actor=by.sub,
            action="vault.checked_out",
            target_type="lease",
            unit_id=account.unit_id,
            details={
                "account_id": account_id,
                "secret_id": secret.id,
                "kind": kind.value,
                "version": secret.current.number,
                "minutes": int(lifetime.total_seconds() // 60),
            },
        )
        await self.leases.add(lease)
        self.events_written(self.leases.collection, lease.id, lease.pending_events)
        if lease.rotation_flag_pending:
            await self._settle_rotation_flag(lease.id)
        return lease, given

    async def check_in(self, lease_id: str, *, by: Principal) -> Lease:
        lease = await self.leases.get(lease_id)
        if lease.holder_id != by.sub:
            if await self.grants.active_grant(lease.account_id, by.sub, OWNER) is None:
                raise Forbidden("only the holder or an owner ends a lease", code="not_lease_holder")
        if lease.ended_at is not None:
            raise Conflict("the lease has ended already", code="lease_ended")
        if lease.is_overdue(self.clock()):
            return await self._end(lease_id, because=LeaseEnd.EXPIRED, actor=SYSTEM)
        return await self._end(lease_id, because=LeaseEnd.RETURNED, actor=by.sub)

    async def get_lease(self, lease_id: str, *, by: Principal) -> Lease:
        lease = await self.leases.get(lease_id)
        if lease.holder_id != by.sub:
            account = await self.directory.account(lease.account_id)
            await self._require_history_reader(account, by)
        if lease.is_overdue(self.clock()):  # ends by itself, even before the next tick
            return await self._end_if_open(lease_id, because=LeaseEnd.EXPIRED, actor=SYSTEM)
        return lease

    async def lease_history(
        self,
        account_id: str,
        *,
        holder_id: str | None,
        status: LeaseStatus | None,
        before: tuple[datetime, str] | None,
        limit: int,
        by: Principal,
    ) -> list[Lease]:
        account = await self.directory.account(account_id)
        if holder_id != by.sub:  # anyone may list their own leases on an account
            await self._require_history_reader(account, by)
        return await self.leases.history(
            account_id, holder_id=holder_id, status=status, before=before, limit=limit
        )

    async def leases_of_holders(
        self,
        holder_ids: Sequence[str],
        *,
        status: LeaseStatus | None,
        limit: int,
        by: Principal,
    ) -> dict[str, list[Lease]]:
        """Many people's leases in one call (the gateway's DataLoaders), newest first, at
        most `limit` each: the caller's own, and others' on accounts whose history the
        caller reads (owners; admins and auditors over the unit). The rest are left out."""
        groups: dict[str, list[Lease]] = {h: [] for h in dict.fromkeys(holder_ids)}
        found = await self.leases.of_holders(list(groups), status=status)
        others = {x.account_id for x in found if x.holder_id != by.sub}
        readable: set[str] = set()
        facts = await self.directory.accounts_by_id(others) if others else {}
        for account in facts.values():
            try:
                await self._require_history_reader(account, by)
            except Forbidden:
                continue
            readable.add(account.id)
        for lease in found:
            held = groups[lease.holder_id]
            if len(held) < limit and (lease.holder_id == by.sub or lease.account_id in readable):
                held.append(lease)
        return groups

    # --- the leaver flow's entry points --------------------------------------------------------
    async def flag_secrets_checked_out_by(
        self,
        person_id: str,
        *,
        since: datetime,
        reason: str,
        offboarding_id: str | None,
        account_ids: Collection[str] | None = None,
    ) -> list[str]:
        """Mark every secret `person_id` checked out since `since` as rotation-required.

        Idempotent per (secret, person, reason, offboarding): a second call raises no new
        flag and returns the same ids (flagged now or by the earlier call). `account_ids`
        limits it to some accounts (a mover keeps the others).
        """
        return await self._flag_checked_out(
            person_id,
            since=since,
            reason=reason,
            cause_id=offboarding_id,
            offboarding_id=offboarding_id,
            account_ids=account_ids,
        )

    async def end_leases_of(
        self,
        person_id: str,
        *,
        reason: str,
        offboarding_id: str | None,
        account_ids: Collection[str] | None = None,
    ) -> list[str]:
        """End every open lease of `person_id` (`checked_in`, ended_because=`reason`).

        Returns the lease ids ended, including (with an `offboarding_id`) those an earlier
        call for the same offboarding ended, so a retry after a crash reports the whole set.
        """
        ended: list[str] = []
        for lease in await self.leases.open_of(person_id, account_ids=account_ids):
            done = await self._end_if_open(
                lease.id, because=reason, actor=SYSTEM, offboarding_id=offboarding_id
            )
            if done.offboarding_id == offboarding_id and done.ended_because == reason:
                ended.append(done.id)
        if offboarding_id is not None:
            earlier = await self.leases.ended_by(person_id, offboarding_id=offboarding_id)
            ended += [lease.id for lease in earlier if lease.id not in ended]
        return sorted(ended)

    async def on_grant_ended(self, events: Sequence[Event]) -> None:
        """A grant was revoked or expired: if its holder can no longer check the account's
        secrets out, their open leases end and what they checked out must rotate. Revocations
        by an offboarding are left to the offboarding, which does the same for all accounts."""
        for event in events:
            ended: GrantSnapshot = event.data_as(
                GrantRevoked if event.type == GRANT_REVOKED else GrantExpired
            )
            if isinstance(ended, GrantRevoked) and ended.offboarding_id:
                continue
            if ended.role not in vault.CHECK_OUT_ROLES:
                continue
            if await self.grants.active_grant(ended.account_id, ended.holder_id, CHECK_OUT):
                continue
            await self.end_leases_of(
                ended.holder_id,
                reason=LeaseEnd.ACCESS_LOST,
                offboarding_id=None,
                account_ids=[ended.account_id],
            )
            await self._flag_checked_out(
                ended.holder_id,
                since=self.clock() - vault.LEAVER_LOOKBACK,
                reason=RotationReason.ACCESS_LOST,
                cause_id=ended.grant_id,
                offboarding_id=None,
                account_ids=[ended.account_id],
            )

    # --- the scheduler ------------------------------------------------------------------------
    async def tick(self) -> TickReport:
        """End leases past their time, finish rotation flags a crash left pending, and flag
        secrets past their account's maximum age. Safe on several replicas at once."""
        now = self.clock()
        expired = 0
        for lease in await self.leases.overdue(now):
            done = await self._end_if_open(lease.id, because=LeaseEnd.EXPIRED, actor=SYSTEM)
            expired += done.ended_because == LeaseEnd.EXPIRED
        settled = 0
        for lease in await self.leases.with_rotation_flag_pending():
            await self._settle_rotation_flag(lease.id)
            settled += 1
        aged = await self._flag_past_max_age(now)
        return TickReport(leases_expired=expired, flags_settled=settled, secrets_past_max_age=aged)

    # --- internals ------------------------------------------------------------------------------
    async def _active_account(self, account_id: str) -> AccountFacts:
        account = await self.directory.account(account_id)
        if not account.is_active:
            raise Conflict("the account is archived", code="account_archived")
        return account

    async def _require_metadata_reader(self, account: AccountFacts, by: Principal) -> None:
        if await self.grants.active_grant(account.id, by.sub, CHECK_OUT) is not None:
            return
        if holds_over(by, (Role.ADMIN, Role.AUDITOR), account.unit_id, await self.units.tree()):
            return
        raise Forbidden("no access to this account's vault", code="vault_forbidden")

    async def _require_history_reader(self, account: AccountFacts, by: Principal) -> None:
        if await self.grants.active_grant(account.id, by.sub, OWNER) is not None:
            return
        if holds_over(by, (Role.ADMIN, Role.AUDITOR), account.unit_id, await self.units.tree()):
            return
        raise Forbidden("no access to this account's lease history", code="vault_forbidden")

    async def _record_refusal(
        self, by: Principal, account: AccountFacts, secret_id: str, kind: SecretKind
    ) -> None:
        if self.audit_log is None:
            return
        await self.audit_log.record_alone(
            audit_entry(
                actor=by.sub,
                action="vault.checked_out",
                target_type="secret",
                target_id=secret_id,
                unit_id=account.unit_id,
                outcome=AuditOutcome.DENIED,
                details={"account_id": account.id, "kind": kind.value},
            )
        )

    async def _end(
        self, lease_id: str, *, because: str, actor: str, offboarding_id: str | None = None
    ) -> Lease:
        async def attempt() -> Lease:
            before = await self.leases.get(lease_id)
            after = audited(
                vault.end_lease(
                    before,
                    because=because,
                    by=actor,
                    now=self.clock(),
                    offboarding_id=offboarding_id,
                ),
                actor=actor,
                action="vault.checked_in",
                target_type="lease",
                unit_id=before.account_unit_id,
                details={
                    "account_id": before.account_id,
                    "secret_id": before.secret_id,
                    "holder_id": before.holder_id,
                    "ended_because": because,
                    "offboarding_id": offboarding_id,
                },
            )
            await self.leases.save(after, expected_sequence=before.sequence)
            self.events_written(self.leases.collection, after.id, after.pending_events)
            return after

        return await _retrying(attempt)

    async def _end_if_open(
        self, lease_id: str, *, because: str, actor: str, offboarding_id: str | None = None
    ) -> Lease:
        """End the lease unless it ended already (then it is returned as it is)."""
        try:
            return await self._end(
                lease_id, because=because, actor=actor, offboarding_id=offboarding_id
            )
        except Conflict as exc:
            if exc.code != "lease_ended":
                raise
            return await self.leases.get(lease_id)

    async def _settle_rotation_flag(self, lease_id: str) -> None:
        """The account's policy asked for rotation after this check-out: flag, then settle."""
        lease = await self.leases.get(lease_id)
        if not lease.rotation_flag_pending:
            return
        await self._flag(
            lease.secret_id,
            reason=RotationReason.CHECKED_OUT,
            person_id=lease.holder_id,
            key=lambda _: vault.flag_key(
                reason=RotationReason.CHECKED_OUT, person_id=lease.holder_id, cause_id=lease.id
            ),
            offboarding_id=None,
        )

        async def attempt() -> None:
            before = await self.leases.get(lease_id)
            if before.rotation_flag_pending:
                await self.leases.save(
                    vault.rotation_flag_settled(before), expected_sequence=before.sequence
                )

        await _retrying(attempt)

    async def _flag(
        self,
        secret_id: str,
        *,
        reason: str,
        person_id: str | None,
        key: Callable[[Secret], str],
        offboarding_id: str | None,
        still_due: Callable[[Secret], bool] = lambda _: True,
    ) -> None:
        """Flag the secret's current version; `key` names the trigger (seen once only) and
        `still_due` re-checks the reason against the freshly read secret."""

        async def attempt() -> None:
            before = await self.secrets.get(secret_id)
            if not still_due(before):
                return
            flagged = vault.flag_rotation(
                before,
                reason=reason,
                person_id=person_id,
                key=key(before),
                now=self.clock(),
                offboarding_id=offboarding_id,
            )
            if flagged is before:
                return  # this trigger flagged it already
            after = audited(
                flagged,
                actor=SYSTEM,
                action="vault.rotation_required",
                target_type="secret",
                unit_id=before.account_unit_id,
                details={
                    "account_id": before.account_id,
                    "kind": before.kind.value,
                    "reason": reason,
                    "person_id": person_id,
                    "version": before.current.number,
                    "offboarding_id": offboarding_id,
                },
            )
            await self.secrets.save(after, expected_sequence=before.sequence)
            self.events_written(self.secrets.collection, after.id, after.pending_events)

        await _retrying(attempt)

    async def _flag_checked_out(
        self,
        person_id: str,
        *,
        since: datetime,
        reason: str,
        cause_id: str | None,
        offboarding_id: str | None,
        account_ids: Collection[str] | None,
    ) -> list[str]:
        leases = await self.leases.checked_out_by(person_id, since=since, account_ids=account_ids)
        secret_ids = sorted({lease.secret_id for lease in leases})
        key = vault.flag_key(reason=reason, person_id=person_id, cause_id=cause_id)
        for secret_id in secret_ids:
            await self._flag(
                secret_id,
                reason=reason,
                person_id=person_id,
                key=lambda _: key,
                offboarding_id=offboarding_id,
            )
        return secret_ids

    async def _flag_past_max_age(self, now: datetime) -> int:
        candidates = await self.secrets.not_flagged()
        policies = await self.directory.accounts_by_id({account for _, account, _ in candidates})
        due = [
            (secret_id, policies[account_id].secret_max_age_days)
            for secret_id, account_id, rotated_at in candidates
            if account_id in policies
            and vault.is_past_max_age(
                rotated_at, max_age_days=policies[account_id].secret_max_age_days, now=now
            )
        ]
        for secret_id, max_age_days in due:
            await self._flag(
                secret_id,
                reason=RotationReason.MAX_AGE,
                person_id=None,
                key=vault.max_age_key,
                offboarding_id=None,
                still_due=partial(vault.past_max_age, max_age_days=max_age_days, now=now),
            )
        return len(due)


async def _retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Re-read and re-apply a write that met a concurrent change (its events are rebuilt)."""
    for remaining in range(WRITE_ATTEMPTS - 1, -1, -1):
        try:
            return await attempt()
        except Conflict as exc:
            if exc.code != "concurrent_change" or remaining == 0:
                raise
    raise AssertionError("unreachable")
