"""The leaver flow: identity says someone left, was suspended or moved; access ends what they
held, in batches, each effect once, and says what it did in one completion event.

For a run of `offboarded` / `suspended` / `moved` events (the consumer hands them over
together), after the employment mirror has applied them:

1. Plan: every grant the batch's people hold is found by `_id` (`grant_holdings`, then the
   grants), with the accounts and the managers it concerns; `plan_departures` decides what
   ends and who takes over each owned account (never someone leaving in the same batch).
2. Record: each offboarding is inserted `in_progress` with its plan (one insert per batch).
3. Grants (non-owner): each end is claimed in the access core's `grant_claims`
   (`<grant id>:end`, one insert per batch, stamped with the offboarding). A claim that
   exists already and names this offboarding is a previous attempt's: it is finished, not
   made again; one naming anything else belongs to another ender. Then the grants close:
   - by one grouped conditional write per offboarding, all of a batch's in one bulk
     command (`GrantStore.end_grouped`: open, unchanged sequence, no event pending),
     their `grant.revoked` events and audit entries carried by the offboarding's
     completion document (step 6), not by each grant. Only
     grants with nothing pending in their outbox go this way, so none of their older
     events can be published after the revoke;
   - else (events still pending, past its expiry, or changed since read) one by one, each
     a conditional single-document write carrying its own events.
   A grant closed by a grouped write says so (`end_carried_by`, `end_from_sequence`):
   a resumed offboarding rebuilds its events (same ids, derived from the claim) for its
   completion.
4. Ownerships: handed over through the account (`AccountHandlers.hand_over_ownership`): the
   account write carries `owner_removed`/`owner_added` (and `coverage_low` when it drops
   below two owners); the owner grant closes stamped with the offboarding.
5. Vault: open leases end and secrets checked out in the last 90 days are flagged, for the
   people the leases collection says it concerns (one query per batch).
6. Completion: what carries the offboarding id is read back (grants by id, the vault's
   answers, the plan's handovers) and a completion document is inserted per offboarding
   (one insert per batch; the unique `_id` makes it once, whatever happened before),
   carrying the grouped grant ends' events, then `offboarding.completed` and its audit
   entry. A crash anywhere leaves the trigger uncommitted on Kafka; its redelivery
   re-finds what was done and does the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

from prometheus_client import Histogram

from access.adapters.account_store import AccountStore
from access.adapters.connector_store import config_from
from access.adapters.grant_store import GrantsForEnding, GrantStore, GroupedEnd
from access.adapters.mongo_store import EmploymentView
from access.adapters.offboarding_store import (
    COMPLETED,
    LeaseFacts,
    OffboardingStore,
    handovers_of,
)
from access.domain import grants as grant_rules
from access.domain.accounts import Account
from access.domain.aggregate import utc_now
from access.domain.audit import audited
from access.domain.grants import EXPIRED, SYSTEM, Grant
from access.domain.offboarding import (
    TRIGGERS,
    Departure,
    Handover,
    OpenGrant,
    OwnedAccount,
    Person,
    Plan,
    completed,
    completion,
    departure_from,
    plan_departures,
)
from access.domain.vault import LEAVER_LOOKBACK
from chorus_kit.consumer import BatchEventHandler
from chorus_kit.errors import TransientError
from chorus_kit.events import Event
from chorus_kit.faults import NO_FAULTS, FaultPoints

log = logging.getLogger(__name__)

OFFBOARDING_BATCH_SECONDS = Histogram(
    "chorus_access_offboarding_batch_seconds",
    "Time to carry out one batch of departures, from its first read to its completions",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)

T = TypeVar("T")
EventsWritten = Callable[[Any, Any, Sequence[Event]], None]
WRITE_ATTEMPTS = 5


class Mirrors(Protocol):
    """The access core's mirror of identity's employees (applied before the flow)."""

    async def record_employment_changes(self, events: Sequence[Event]) -> None: ...


class Ownerships(Protocol):
    """The access core's way to end an ownership (`AccountHandlers`)."""

    @property
    def accounts(self) -> AccountStore: ...

    async def hand_over_ownership(
        self,
        account_id: str,
        *,
        leaving_id: str,
        successor_id: str | None,
        actor: str,
        reason: str,
        offboarding_id: str | None = None,
    ) -> Account | None: ...

    async def sync_owner_grants(self, account_id: str) -> None: ...


class SecretAccounts(Protocol):
    async def get_many(self, secret_ids: Collection[str]) -> Sequence[Any]: ...


class LeaverVault(Protocol):
    """The vault's entry points for the leaver flow (`VaultHandlers`)."""

    @property
    def secrets(self) -> SecretAccounts: ...

    async def end_leases_of(
        self,
        person_id: str,
        *,
        reason: str,
        offboarding_id: str | None,
        account_ids: Collection[str] | None = None,
    ) -> list[str]: ...

    async def flag_secrets_checked_out_by(
        self,
        person_id: str,
        *,
        since: datetime,
        reason: str,
        offboarding_id: str | None,
        account_ids: Collection[str] | None = None,
    ) -> list[str]: ...


@dataclass
class VaultOutcome:
    leases_ended: list[str] = field(default_factory=list)
    secrets_flagged: list[str] = field(default_factory=list)


@dataclass
class OffboardingHandlers:
    store: OffboardingStore
    grants: GrantStore
    ownerships: Ownerships
    employment: EmploymentView
    vault: LeaverVault
    mirrors: Mirrors
    events_written: EventsWritten
    # Hands a new carrier document's events to the relay (`notify(..., carried=True)`).
    carrier_written: EventsWritten
    replica: str = "access"
    faults: FaultPoints = NO_FAULTS
    # Single-document writes in flight at once (FerretDB serialises them anyway; a few in
    # flight hide the round trips).
    concurrency: int = 16
    # One batch at a time in this process: a batch's managers are judged after every batch
    # before it (partitions are handled concurrently by the consumer).
    _one_batch: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Runs handed over while a batch was under way, each with the future its caller awaits.
    _waiting: list[tuple[list[Event], asyncio.Future[None]]] = field(default_factory=list)

    async def prepare(self) -> None:
        await self.store.prepare()

    def event_handlers(self) -> Mapping[str, BatchEventHandler]:
        """The employee event types that start an offboarding → the handler of their runs."""
        return {kind: self.on_departures for kind in TRIGGERS}

    async def on_departures(self, events: Sequence[Event]) -> None:
        """A run of departures from one partition. Runs of several partitions handed over
        at once (the consumer handles partitions concurrently) are carried out together:
        whoever gets the batch lock takes every run waiting, so the per-batch round trips
        are paid once, not once per partition. Each caller returns when its run is done
        (or raises what the batch raised: its partition retries it)."""
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(events), mine))
        await asyncio.sleep(0)  # let the other partitions' runs of this poll join
        async with self._one_batch:
            if not mine.done():
                taken, self._waiting = self._waiting, []
                try:
                    await self._carry_out([e for run, _ in taken for e in run])
                except BaseException as exc:
                    for _, waiter in taken:
                        if waiter is not mine and not waiter.done():
                            waiter.set_exception(
                                TransientError("the batch this run joined was interrupted")
                                if isinstance(exc, asyncio.CancelledError)
                                else exc
                            )
                    raise
                for _, waiter in taken:
                    if not waiter.done():
                        waiter.set_result(None)
        await mine

    async def _carry_out(self, events: Sequence[Event]) -> None:
        await self.offboard([departure_from(e) for e in events], events=events)

    async def offboard(
        self, departures: Sequence[Departure], *, events: Sequence[Event] = ()
    ) -> int:
        """Carry out a batch of departures (idempotent); how many completed now. `events`
        (the departures' own) are applied to the employment mirror first."""
        began = time.perf_counter()
        unique = list({d.offboarding_id: d for d in departures}.values())
        now = utc_now()
        # The reads at once, beside the mirror's write (each a round trip, and the mirror's
        # and the grants' the longest of a batch): only the managers wait for the mirror,
        # only the grants and their accounts for the holdings that name them.
        earlier, (read, account_list), people, leases = await asyncio.gather(
            self.store.find_many(d.offboarding_id for d in unique),
            self._grants_held(unique),
            self._people_after_mirroring(unique, events),
            self.store.lease_facts(
                {d.person.id for d in unique},
                since=now - LEAVER_LOOKBACK,
                offboarding_ids=[d.offboarding_id for d in unique],
            ),
        )
        todo = [d for d in unique if earlier.get(d.offboarding_id, {}).get("status") != COMPLETED]
        if not todo:
            return 0
        known = read.grants
        accounts = {a.id: a for a in account_list}
        plans = plan_departures(
            todo,
            open_grants=_open_grants_by_person(known.values()),
            accounts={
                a.id: OwnedAccount(a.id, a.unit_id, tuple(a.owners)) for a in accounts.values()
            },
            people=people,
        )
        # The offboardings' records and the grants' claims are independent writes: a claim
        # found without its offboarding's record is taken up by the redelivery all the same.
        _, claims = await asyncio.gather(
            self.store.start([p for p in plans if p.offboarding_id not in earlier], at=now),
            self._claim_ends(plans, at=now),
        )
        handovers = await self._handovers_to_report(plans, earlier)
        carried, closed = await self._end_grants(
            claims, read, ours={p.offboarding_id for p in plans}
        )
        await self.faults.reach("offboarding.mid_effects")
        for plan in plans:
            for handover in plan.handovers:
                await self._hand_over(plan, handover)
            # An earlier attempt handed these over and died before the owner grant closed.
            for account_id in {g.account_id for g in plan.unsynced_owner_grants}:
                await self.ownerships.sync_owner_grants(account_id)
        vault = await self._vault(plans, leases=leases, since=now - LEAVER_LOOKBACK)

        done = await self._complete(
            plans,
            known=known,
            closed=closed,
            handovers=handovers,
            vault=vault,
            accounts=accounts,
            carried=carried,
        )
        OFFBOARDING_BATCH_SECONDS.observe(time.perf_counter() - began)
        log.info(
            "offboardings completed",
            extra={"batch": len(departures), "completed": done, "grants": len(known)},
        )
        return done

    # --- planning ---------------------------------------------------------------------------
    async def _people_after_mirroring(
        self, departures: Sequence[Departure], events: Sequence[Event]
    ) -> dict[str, Person]:
        # The mirror first: the flow judges managers by it, and whoever reads access's
        # employment sees the leaver gone before their grants go (nothing ends before this
        # returns; events the mirror's own group applied already are skipped, see
        # `EmploymentView.apply_many`).
        if events:
            await self.mirrors.record_employment_changes(events)
            await self.faults.reach("offboarding.before_effects")
        return await self._people(departures)

    async def _grants_held(
        self, departures: Sequence[Departure]
    ) -> tuple[GrantsForEnding, Sequence[Account]]:
        """The grants the people hold (by `_id`, through their holdings) and their accounts."""
        held = await self.grants.holdings.held_by(d.person.id for d in departures)
        return await asyncio.gather(
            self.grants.read_for_ending(g for mine in held.values() for g in mine),
            self.ownerships.accounts.get_many({a for mine in held.values() for a in mine.values()}),
        )

    async def _people(self, departures: Sequence[Departure]) -> dict[str, Person]:
        """The managers who might take over, as access's mirror knows them now."""
        chains = {m for d in departures for m in d.person.manager_chain}
        records = await self.employment.find_many(chains)
        return {
            person_id: Person(
                id=person_id,
                status=str(record.get("status")),
                unit_path=tuple(record.get("unit_path") or [record.get("unit_id")]),
                manager_chain=tuple(record.get("manager_chain") or ()),
            )
            for person_id, record in records.items()
        }

    async def _handovers_to_report(
        self, plans: Sequence[Plan], earlier: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, list[Handover]]:
        """Per offboarding, every handover it made or makes now. A resumed offboarding keeps
        the handovers an earlier attempt carried out (the account is no longer the leaver's,
        so today's plan leaves it out) and decides again those it had not reached."""
        reported: dict[str, list[Handover]] = {}
        for plan in plans:
            document = earlier.get(plan.offboarding_id)
            if document is None:
                reported[plan.offboarding_id] = list(plan.handovers)
                continue
            before = {h.account_id: h for h in handovers_of(document)}
            merged = {**before, **{h.account_id: h for h in plan.handovers}}
            if merged != before:
                await self.store.replan_handovers(plan.offboarding_id, list(merged.values()))
            reported[plan.offboarding_id] = list(merged.values())
        return reported

    # --- effects ----------------------------------------------------------------------------
    async def _claim_ends(self, plans: Sequence[Plan], *, at: datetime) -> list[dict[str, Any]]:
        """Claim the end of each grant the plans end; the claims this offboarding holds
        (made now, or by a previous attempt of the same offboarding)."""
        claims: dict[str, dict[str, Any]] = {
            f"{grant.grant_id}:end": {
                "_id": f"{grant.grant_id}:end",
                "grant_id": grant.grant_id,
                "effect": "end",
                "claimed_by": self.replica,
                "claimed_at": at,
                "at": at,
                "actor": SYSTEM,
                "reason": plan.departure.trigger.value,
                "offboarding_id": plan.offboarding_id,
                # This offboarding finishes what it claims (its trigger stays uncommitted
                # until it has): the core's sweep of stale claims need not.
                "finished": True,
            }
            for plan in plans
            for grant in plan.grants
        }
        won = await self.store.claim(list(claims.values()))
        # Claimed before: ours if a previous attempt of the same offboarding made it.
        for claim_id, claim in (await self.store.claims_of(set(claims) - won)).items():
            if claim.get("offboarding_id") == claims[claim_id]["offboarding_id"]:
                claims[claim_id] = claim
                won.add(claim_id)
        return [claims[c] for c in won]

    async def _end_grants(
        self, claims: Sequence[Mapping[str, Any]], read: GrantsForEnding, *, ours: Collection[str]
    ) -> tuple[dict[str, list[Event]], dict[str, str]]:
        """End the claimed grants (see the module's step 3). Returns per offboarding the
        events its completion carries (those of the grants closed by grouped writes, now or
        by an earlier attempt), and the grants closed by grouped writes now → their offboarding."""
        carried: dict[str, list[Event]] = defaultdict(list)
        for grant_id, (offboarding_id, before) in read.carried.items():
            if offboarding_id in ours:
                carried[offboarding_id] += _rebuilt_end(read.grants[grant_id], before)
        groups: dict[tuple[Any, ...], list[Grant]] = defaultdict(list)
        one_by_one: list[tuple[Mapping[str, Any], Grant | None]] = []
        for claim in claims:
            grant = read.grants.get(claim["grant_id"])
            if grant is None or not grant.is_open:
                continue  # ended before (its events went out then, or are carried above)
            after = _ended(grant, claim)
            if grant.id in read.pending or after.revoke_reason == EXPIRED:
                one_by_one.append((claim, grant))
                continue
            key = (claim["offboarding_id"], grant.sequence, after.sequence)
            groups[(*key, claim["at"], claim["actor"], claim["reason"])].append(after)
        claims_by_grant = {c["grant_id"]: c for c in claims}
        changed: list[str] = []
        closed_now: dict[str, str] = {}
        ends = [
            GroupedEnd(
                [g.id for g in ended],
                expected_sequence=before,
                sequence=sequence,
                revoked_at=at,
                revoked_by=actor,
                reason=reason,
                offboarding_id=offboarding_id,
            )
            for (offboarding_id, before, sequence, at, actor, reason), ended in groups.items()
        ]
        for end, ended, closed in zip(
            ends, groups.values(), await self.grants.end_grouped(ends), strict=True
        ):
            closed_now.update(dict.fromkeys(closed, end.offboarding_id))
            for after in ended:
                if after.id in closed:
                    carried[end.offboarding_id] += after.pending_events
                else:
                    changed.append(after.id)
        if changed:  # written meanwhile: read again, then one by one
            fresh = {g.id: g for g in await self.grants.get_many(changed)}
            one_by_one += [(claims_by_grant[g], fresh.get(g)) for g in changed]
        await _bounded(self.concurrency, [self._finish_end(c, g) for c, g in one_by_one])
        return carried, closed_now

    async def _finish_end(self, claim: Mapping[str, Any], grant: Grant | None) -> None:
        """One grant ended as claimed: a conditional write carrying its event and audit entry
        (re-read and redone if the grant changed meanwhile; nothing if it had ended)."""
        for _ in range(WRITE_ATTEMPTS):
            if grant is None or not grant.is_open:
                return
            after = _ended(grant, claim)
            if await self.grants.save(after, expected_sequence=grant.sequence):
                self.events_written(self.grants.collection, after.id, after.pending_events)
                return
            grant = await self.grants.find(grant.id)
        log.warning("grant %s kept changing; its offboarding retries it", claim["grant_id"])
        raise RuntimeError("a grant kept changing while its offboarding ended it")

    async def _hand_over(self, plan: Plan, handover: Handover) -> None:
        await self.ownerships.hand_over_ownership(
            handover.account_id,
            leaving_id=handover.from_id,
            successor_id=handover.to_id,
            actor=SYSTEM,
            reason=plan.departure.trigger.value,
            offboarding_id=plan.offboarding_id,
        )
        if handover.to_id is None:
            # The account write raised `coverage_low` if it fell below two owners; the
            # completion names the account with nobody to take over.
            log.warning(
                "nobody eligible to take over an account",
                extra={"account_id": handover.account_id, "offboarding_id": plan.offboarding_id},
            )

    async def _vault(
        self, plans: Sequence[Plan], *, leases: Mapping[str, LeaseFacts], since: datetime
    ) -> dict[str, VaultOutcome]:
        facts = leases
        outcomes: dict[str, VaultOutcome] = {}
        for plan in plans:
            person = plan.departure.person.id
            outcome = outcomes[plan.offboarding_id] = VaultOutcome()
            if not facts.get(person, LeaseFacts()).concerns_vault:
                continue  # never checked anything out lately, holds no lease
            if plan.account_scope is not None and not plan.account_scope:
                continue  # a mover who keeps every account
            reason = plan.departure.trigger.value
            outcome.leases_ended = await self.vault.end_leases_of(
                person,
                reason=reason,
                offboarding_id=plan.offboarding_id,
                account_ids=plan.account_scope,
            )
            outcome.secrets_flagged = await self.vault.flag_secrets_checked_out_by(
                person,
                since=since,
                reason=reason,
                offboarding_id=plan.offboarding_id,
                account_ids=plan.account_scope,
            )
        return outcomes

    # --- completion -------------------------------------------------------------------------
    async def _complete(
        self,
        plans: Sequence[Plan],
        *,
        known: Mapping[str, Grant],
        closed: Mapping[str, str],
        handovers: Mapping[str, Sequence[Handover]],
        vault: Mapping[str, VaultOutcome],
        accounts: Mapping[str, Account],
        carried: Mapping[str, Sequence[Event]],
    ) -> int:
        ours = {p.offboarding_id for p in plans}
        # What carries each offboarding's id: the grants it ended (owner grants included).
        # Read again only those open when first read and not closed by a grouped write now
        # (ended one by one, handed over, or left open).
        unsure = [g for g, grant in known.items() if grant.is_open and g not in closed]
        now_read = {g.id: g for g in await self.grants.get_many(unsure)} if unsure else {}
        revoked: dict[str, list[Grant]] = defaultdict(list)
        for grant_id, first_read in known.items():
            if grant_id in closed:
                revoked[closed[grant_id]].append(first_read)
                continue
            grant = now_read.get(grant_id, first_read)
            if grant.offboarding_id in ours:
                revoked[grant.offboarding_id].append(grant)
        flagged = {s for outcome in vault.values() for s in outcome.secrets_flagged}
        secret_accounts = (
            {s.id: s.account_id for s in await self.vault.secrets.get_many(flagged)}
            if flagged
            else {}
        )
        concerned = {g.account_id for gs in revoked.values() for g in gs}
        concerned |= set(secret_accounts.values())
        unread = concerned - set(accounts)
        read = await self.ownerships.accounts.get_many(unread) if unread else []
        with_connector = {
            a.id
            for a in [*accounts.values(), *read]
            if a.id in concerned and config_from(a.connector) is not None
        }
        now = utc_now()
        completions: list[tuple[str, dict[str, Any], list[Event]]] = []
        for plan in plans:
            outcome = vault[plan.offboarding_id]
            grants = revoked.get(plan.offboarding_id, [])
            done = completion(
                plan.departure,
                grants_revoked=[g.id for g in grants],
                leases_ended=outcome.leases_ended,
                secrets_flagged=outcome.secrets_flagged,
                handovers=handovers.get(plan.offboarding_id, ()),
                connector_calls=sum(g.account_id in with_connector for g in grants)
                + sum(secret_accounts.get(s) in with_connector for s in outcome.secrets_flagged),
                at=now,
            )
            record = completed(done, actor=SYSTEM, unit_id=plan.departure.person.unit_path[0])
            summary = {
                "person_id": done.person_id,
                "trigger": done.trigger,
                "completed_at": now,
                "grants_revoked": done.grants_revoked,
                "leases_ended": done.leases_ended,
                "secrets_flagged": done.secrets_flagged,
                "connector_calls": done.connector_calls,
            }
            events = [*carried.get(plan.offboarding_id, ()), *record.pending_events]
            completions.append((plan.offboarding_id, summary, events))
        inserted = set(await self.store.complete(completions))
        for offboarding_id, _, events in completions:
            if offboarding_id in inserted:
                self.carrier_written(self.store.completions, offboarding_id, events)
        return len(inserted)


def _ended(grant: Grant, claim: Mapping[str, Any]) -> Grant:
    """The grant closed as its claim says, with its end event and audit entry (ids derived
    from the claim: every attempt computes the same)."""
    after = grant_rules.end(
        grant,
        at=claim["at"],
        by=claim["actor"],
        reason=claim["reason"],
        effect=claim["_id"],
        offboarding_id=claim["offboarding_id"],
    )
    kind = "expired" if after.revoke_reason == EXPIRED else "revoked"
    return audited(
        after,
        actor=claim["actor"],
        action=f"grant.{kind}",
        target_type="grant",
        unit_id=grant.account_unit_id,
        effect=claim["_id"],
        details={
            "account_id": grant.account_id,
            "holder_id": grant.holder_id,
            "role": grant.role.value,
            "reason": after.revoke_reason,
            "offboarding_id": claim["offboarding_id"],
        },
    )


def _rebuilt_end(grant: Grant, sequence_before: int) -> tuple[Event, ...]:
    """The end events of a grant an earlier attempt closed by a grouped write (from the
    state it stored: the same events, the same ids)."""
    assert grant.revoked_at is not None and grant.revoked_by and grant.revoke_reason
    still_open = replace(
        grant,
        revoked_at=None,
        revoked_by=None,
        revoke_reason=None,
        offboarding_id=None,
        sequence=sequence_before,
        pending_events=(),
    )
    claim = {
        "_id": f"{grant.id}:end",
        "at": grant.revoked_at,
        "actor": grant.revoked_by,
        "reason": grant.revoke_reason,
        "offboarding_id": grant.offboarding_id,
    }
    return _ended(still_open, claim).pending_events


def _open_grants_by_person(grants: Iterable[Grant]) -> dict[str, list[OpenGrant]]:
    by_person: dict[str, list[OpenGrant]] = defaultdict(list)
    for grant in grants:
        if grant.is_open:
            by_person[grant.holder_id].append(
                OpenGrant(grant.id, grant.account_id, grant.account_unit_id, grant.role.value)
            )
    return by_person


async def _bounded(limit: int, work: Sequence[Awaitable[T]]) -> list[T]:
    """Await `work` with at most `limit` in flight; the first failure is raised."""
    gate = asyncio.Semaphore(limit)

    async def one(item: Awaitable[T]) -> T:
        async with gate:
            return await item

    return list(await asyncio.gather(*(one(w) for w in work)))


__all__ = ["LeaverVault", "OffboardingHandlers"]
