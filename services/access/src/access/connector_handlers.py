"""Revocation connectors' use cases: set one up, record calls when access ends, deliver them.

Who may do what (roles held over a unit cover its subtree):
- an owner of the account, or an admin over its unit, configures, re-points, rotates the
  signing secret of, or removes its connector (an audit entry each time);
- owners, and admins or auditors over the account's unit, list its calls; owners and
  admins retry a failed one.

How a call comes about: access consumes its own `grant.revoked`, `grant.expired` and
`vault.rotation_required` events (group `access-connectors`), so every revocation reaches
the network whoever made it (an owner, the leaver flow, a review, the expiry scheduler).
Each event makes at most one call (its id derives from account, action, grant or secret
version, and reason; the insert refuses a second). The worker on every replica delivers
due calls; each attempt is claimed first (`TurnClaims`), so one replica at a time makes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from access.adapters.account_store import AccountStore
from access.adapters.connector_client import WebhookClient
from access.adapters.connector_store import ConnectorCallStore, ConnectorConfigStore, config_from
from access.adapters.mongo_store import OrgUnitView
from access.adapters.vault_crypto import Envelope, SecretUnreadable
from access.domain import connectors as rules
from access.domain.accounts import Account
from access.domain.aggregate import utc_now
from access.domain.audit import audited
from access.domain.connectors import (
    AccountFacts,
    CallStatus,
    ConnectorCall,
    ConnectorConfig,
    DeliveryOutcome,
    RetryPolicy,
)
from chorus_kit.auth import Principal
from chorus_kit.consumer import BatchEventHandler
from chorus_kit.errors import Conflict, Forbidden, NotFound
from chorus_kit.events import Event
from chorus_kit.events.access import GrantExpired, GrantRevoked, RotationRequired

log = logging.getLogger(__name__)

GRANT_REVOKED = "chorus.access.grant.revoked"
GRANT_EXPIRED = "chorus.access.grant.expired"
ROTATION_REQUIRED = "chorus.access.vault.rotation_required"
WRITE_ATTEMPTS = 5

# Hands a committed write's events to the outbox relay (collection, document id, events).
EventsWritten = Callable[[AsyncCollection[dict[str, Any]], Any, Sequence[Event]], None]


@dataclass(frozen=True)
class ConnectorView:
    """An account's connector as its readers see it (never the secret)."""

    account_id: str
    config: ConnectorConfig
    calls: Mapping[str, int]


@dataclass(frozen=True)
class ConfiguredConnector:
    config: ConnectorConfig
    # The new signing secret, present only in the answer that made it (shown once).
    signing_secret: str | None
    created: bool


@dataclass
class ConnectorHandlers:
    configs: ConnectorConfigStore
    calls: ConnectorCallStore
    accounts: AccountStore
    units: OrgUnitView
    envelope: Envelope
    client: WebhookClient
    events_written: EventsWritten
    policy: RetryPolicy
    require_https: bool
    lease: timedelta = timedelta(seconds=30)
    tick_seconds: float = 1.0
    concurrency: int = 8
    replica: str = "access"
    clock: Callable[[], datetime] = utc_now
    jitter: Callable[[], float] = random.random
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def prepare(self) -> None:
        await self.configs.prepare()
        await self.calls.prepare()

    @property
    def collections(self) -> list[AsyncCollection[dict[str, Any]]]:
        """The collections whose outboxes the relay publishes (failure alerts, retries'
        audit entries); account writes ride in `accounts`, which the core relays."""
        return [self.calls.collection]

    # --- configuration ----------------------------------------------------------------------
    async def configure(self, account_id: str, url: str, *, by: Principal) -> ConfiguredConnector:
        """Set the connector up (a new signing secret, returned once), or point it elsewhere
        (the secret stays)."""
        account = await self._configurable(account_id, by)
        url = rules.check_url(url, require_https=self.require_https)
        existing = config_from(account.connector)
        if existing is not None:
            if existing.url == url:
                return ConfiguredConnector(existing, None, created=False)
            moved = ConnectorConfig(
                url=url,
                secret_ref=existing.secret_ref,
                configured_at=self.clock(),
                configured_by=by.sub,
                secret_rotated_at=existing.secret_rotated_at,
            )
            await self._save(account_id, moved, by=by, action="account.connector_updated")
            return ConfiguredConnector(moved, None, created=False)
        secret, secret_ref = await self._new_secret(account_id)
        now = self.clock()
        config = ConnectorConfig(
            url=url,
            secret_ref=secret_ref,
            configured_at=now,
            configured_by=by.sub,
            secret_rotated_at=now,
        )
        try:
            await self._save(
                account_id,
                config,
                by=by,
                action="account.connector_configured",
                unless_configured=True,
            )
        except BaseException:
            await self.configs.forget_secret(secret_ref)
            raise
        return ConfiguredConnector(config, secret, created=True)

    async def rotate_secret(self, account_id: str, *, by: Principal) -> ConfiguredConnector:
        account = await self._configurable(account_id, by)
        existing = config_from(account.connector)
        if existing is None:
            raise NotFound("this account has no connector", code="connector_not_found")
        secret, secret_ref = await self._new_secret(account_id)
        now = self.clock()
        rotated = ConnectorConfig(
            url=existing.url,
            secret_ref=secret_ref,
            configured_at=existing.configured_at,
            configured_by=existing.configured_by,
            secret_rotated_at=now,
        )
        try:
            await self._save(account_id, rotated, by=by, action="account.connector_secret_rotated")
        except BaseException:
            await self.configs.forget_secret(secret_ref)
            raise
        await self.configs.forget_secret(existing.secret_ref)
        return ConfiguredConnector(rotated, secret, created=False)

    async def remove(self, account_id: str, *, by: Principal) -> None:
        account = await self._configurable(account_id, by)
        existing = config_from(account.connector)
        if existing is None:
            raise NotFound("this account has no connector", code="connector_not_found")
        await self._save(account_id, None, by=by, action="account.connector_removed")
        await self.configs.forget_secret(existing.secret_ref)

    async def get_connector(self, account_id: str, *, by: Principal) -> ConnectorView:
        account = await self.accounts.get(account_id)
        await self._require_reader(account, by)
        config = config_from(account.connector)
        if config is None:
            raise NotFound("this account has no connector", code="connector_not_found")
        return ConnectorView(account.id, config, await self.calls.counts_of(account.id))

    async def _configurable(self, account_id: str, by: Principal) -> Account:
        account = await self.accounts.get(account_id)
        rules.require_may_configure(
            by,
            owners=tuple(account.owners),
            unit_id=account.unit_id,
            tree=await self.units.tree(),
        )
        return account

    async def _new_secret(self, account_id: str) -> tuple[str, str]:
        secret = rules.new_signing_secret()
        secret_ref = f"connector-secret:{account_id}:{random.getrandbits(64):016x}"
        sealed = await self.envelope.seal(
            secret.encode(), associated_data=rules.secret_associated_data(account_id, secret_ref)
        )
        await self.configs.add_secret(secret_ref, account_id, sealed, at=self.clock())
        return secret, secret_ref

    async def _save(
        self,
        account_id: str,
        config: ConnectorConfig | None,
        *,
        by: Principal,
        action: str,
        unless_configured: bool = False,
    ) -> None:
        for attempt in range(WRITE_ATTEMPTS):
            account = await self.accounts.get(account_id)
            if unless_configured and config_from(account.connector) is not None:
                raise Conflict("the account has a connector already", code="connector_exists")
            details: dict[str, str | int | bool | None] = {"account_id": account.id}
            if config is not None:
                details["url"] = config.url
            changed = audited(
                account,
                actor=by.sub,
                action=action,
                target_type="account",
                unit_id=account.unit_id,
                details=details,
            )
            try:
                await self.configs.save(changed, config, expected_sequence=account.sequence)
            except Conflict as exc:
                if exc.code == "concurrent_change" and attempt < WRITE_ATTEMPTS - 1:
                    continue
                raise
            self.events_written(self.accounts.collection, changed.id, changed.pending_events)
            return

    # --- calls recorded from events ---------------------------------------------------------
    def event_handlers(self) -> Mapping[str, BatchEventHandler]:
        return {
            GRANT_REVOKED: self.on_grant_ended,
            GRANT_EXPIRED: self.on_grant_ended,
            ROTATION_REQUIRED: self.on_rotation_required,
        }

    async def on_grant_ended(self, events: Sequence[Event]) -> None:
        ended: list[tuple[Event, GrantRevoked | GrantExpired, str]] = []
        for event in events:
            if event.type == GRANT_EXPIRED:
                ended.append((event, event.data_as(GrantExpired), "expired"))
            else:
                revoked = event.data_as(GrantRevoked)
                ended.append((event, revoked, revoked.reason))
        # The run's accounts in one read by id (an offboarding ends thousands at once, and
        # most accounts have no connector).
        known = {a.id: a for a in await self.accounts.get_many({g.account_id for _, g, _ in ended})}
        for event, grant, reason in ended:
            if grant.account_id not in known:
                log.warning("connector event for an account access does not know; skipped")
                continue
            account = _with_connector(known[grant.account_id])
            if account is None:
                continue
            await self._record(
                rules.revoke_call(
                    account,
                    grant_id=grant.grant_id,
                    holder_id=grant.holder_id,
                    role=grant.role.value,
                    reason=reason,
                    requested_at=_to_millis(event.time),
                )
            )

    async def on_rotation_required(self, events: Sequence[Event]) -> None:
        for event in events:
            flagged = event.data_as(RotationRequired)
            account = await self._account_with_connector(flagged.account_id)
            if account is None:
                continue
            await self._record(
                rules.rotate_call(
                    account,
                    secret_id=flagged.secret_id,
                    secret_kind=flagged.kind.value,
                    version=flagged.version,
                    person_id=flagged.person_id,
                    reason=flagged.reason,
                    requested_at=_to_millis(event.time),
                )
            )

    async def _account_with_connector(self, account_id: str) -> AccountFacts | None:
        try:
            account = await self.accounts.get(account_id)
        except NotFound:
            log.warning("connector event for an account access does not know; skipped")
            return None
        return _with_connector(account)

    async def _record(self, call: ConnectorCall) -> None:
        if await self.calls.add(call):
            self._wake.set()

    # --- delivery ---------------------------------------------------------------------------
    async def run_worker(self) -> None:
        """Deliver due calls until cancelled; a new call wakes it at once."""
        backoff = 0.5
        while True:
            self._wake.clear()
            try:
                await self.deliver_due()
                backoff = 0.5
                wait = await self._seconds_to_next_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away: the calls wait in it
                log.exception("connector delivery round failed; retrying")
                wait = backoff
                backoff = min(backoff * 2, 10.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _seconds_to_next_due(self) -> float:
        due = await self.calls.next_due_at()
        if due is None:
            return self.tick_seconds
        # At least a moment: a due call another replica is attempting stays due meanwhile.
        return min(max((due - self.clock()).total_seconds(), 0.1), self.tick_seconds)

    async def deliver_due(self) -> int:
        """One round: attempt every call due now (those another replica holds are skipped)."""
        due = await self.calls.due(now=self.clock(), limit=self.concurrency * 4)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(call: ConnectorCall) -> bool:
            async with gate:
                return await self.attempt(call)

        outcomes = await asyncio.gather(*(one(c) for c in due), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                # Its turn stays unfinished: another attempt follows once the lease runs out.
                log.warning("a connector attempt failed", extra={"error": type(outcome).__name__})
        return sum(1 for o in outcomes if o is True)

    async def attempt(self, call: ConnectorCall) -> bool:
        """Claim the call's next attempt and make it; False if another replica holds it."""
        turn = await self.calls.attempts.take(
            call.id,
            turn=call.attempts + 1,
            holder=self.replica,
            now=self.clock(),
            lease=self.lease,
        )
        if turn is None:
            return False
        try:
            config = await self.configs.config_of(call.account_id)
        except NotFound:
            config = None
        if config is None:
            # Nowhere to send it: retrying cannot help until someone configures one.
            outcome = DeliveryOutcome(status_code=None, error="no connector configured")
            tried = replace(call, attempts=max(call.attempts, turn), last_attempt_at=self.clock())
            after = rules.gave_up(tried, now=self.clock(), error=outcome.error)
        else:
            outcome = await self._post(call, config)
            after = rules.attempted(
                call,
                attempt=turn,
                outcome=outcome,
                now=self.clock(),
                policy=self.policy,
                jitter=self.jitter(),
            )
        if await self.calls.save_attempt(after, turn=turn):
            self.events_written(self.calls.collection, after.id, after.pending_events)
            if after.status is CallStatus.FAILED:
                log.error(
                    "connector call failed; an admin may retry it",
                    extra={"call_id": call.id, "account_id": call.account_id},
                )
        # Finished only once the call's document says so: a finished turn is never retaken.
        await self.calls.attempts.finish(
            call.id,
            turn,
            status_code=outcome.status_code,
            error=outcome.error,
            acknowledged=outcome.acknowledged,
            at=self.clock(),
        )
        return True

    async def _post(self, call: ConnectorCall, config: ConnectorConfig) -> DeliveryOutcome:
        sealed = await self.configs.sealed_secret(config.secret_ref)
        if sealed is None:
            return DeliveryOutcome(status_code=None, error="signing secret missing")
        try:
            secret = await self.envelope.open(
                sealed,
                associated_data=rules.secret_associated_data(call.account_id, config.secret_ref),
            )
        except SecretUnreadable:
            return DeliveryOutcome(status_code=None, error="signing secret unreadable")
        body = call.body()
        headers = rules.request_headers(
            call.id, secret.decode(), timestamp=int(time.time()), body=body
        )
        return await self.client.post(config.url, body=body, headers=headers)

    # --- reads and retries ------------------------------------------------------------------
    async def list_calls(
        self,
        *,
        by: Principal,
        status: CallStatus | None = None,
        account_id: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> list[ConnectorCall]:
        tree = await self.units.tree()
        if account_id is not None:
            await self._require_reader(await self.accounts.get(account_id), by)
            scope = rules.CallScope(owned_accounts=frozenset(), reader_units=None)
        else:
            owned = set(await self.accounts.owned_by(by.sub))
            scope = rules.call_scope(by, tree, owned_accounts=owned)
        return await self.calls.search(
            scope, status=status, account_id=account_id, after=after, limit=limit
        )

    async def get_call(
        self, call_id: str, *, by: Principal
    ) -> tuple[ConnectorCall, list[dict[str, Any]]]:
        call = await self.calls.get(call_id)
        await self._require_call_reader(call, by)
        return call, await self.calls.attempts.turns_of(call.id)

    async def retry_call(self, call_id: str, *, by: Principal) -> ConnectorCall:
        call = await self.calls.get(call_id)
        owners = await self._owners_of(call.account_id)
        tree = await self.units.tree()
        if not rules.may_read_calls(by, owners=owners, unit_id=call.account_unit_id, tree=tree):
            raise Forbidden("you may not see this call", code="not_allowed_to_read")
        rules.require_may_retry(by, owners=owners, unit_id=call.account_unit_id, tree=tree)
        again = rules.retried(call, by=by.sub, now=self.clock())
        if not await self.calls.save_retry(again, expected_sequence=call.sequence):
            raise Conflict("the call changed meanwhile", code="call_not_failed")
        self.events_written(self.calls.collection, again.id, again.pending_events)
        self._wake.set()
        return again

    async def accounts_with_connector(self, account_ids: Sequence[str]) -> set[str]:
        """Those of the accounts that have a connector (grants ending there make calls)."""
        return await self.configs.with_connector(account_ids)

    async def pending_connector_revocations(
        self, person_ids: Sequence[str] | None
    ) -> dict[str, int]:
        """For the reports: revoke calls not acknowledged by the network yet, per person
        (None: everyone who has one)."""
        return await self.calls.unacknowledged_revocations(person_ids)

    async def _require_reader(self, account: Account, by: Principal) -> None:
        if not rules.may_read_calls(
            by, owners=tuple(account.owners), unit_id=account.unit_id, tree=await self.units.tree()
        ):
            raise Forbidden(
                "owners, and admins or auditors over its unit, see an account's connector",
                code="not_allowed_to_read",
            )

    async def _require_call_reader(self, call: ConnectorCall, by: Principal) -> None:
        owners = await self._owners_of(call.account_id)
        if not rules.may_read_calls(
            by, owners=owners, unit_id=call.account_unit_id, tree=await self.units.tree()
        ):
            raise Forbidden("you may not see this call", code="not_allowed_to_read")

    async def _owners_of(self, account_id: str) -> tuple[str, ...]:
        try:
            return tuple((await self.accounts.get(account_id)).owners)
        except NotFound:
            return ()


def _with_connector(account: Account) -> AccountFacts | None:
    """What a call needs of the account; None when it has no connector (nothing to tell)."""
    if config_from(account.connector) is None:
        return None
    return AccountFacts(
        id=account.id,
        unit_id=account.unit_id,
        network=account.network,
        handle=account.handle,
        owners=tuple(account.owners),
    )


def _to_millis(at: datetime) -> datetime:
    """What BSON keeps of a time: the body built from the stored call is the same bytes
    on every attempt."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)
