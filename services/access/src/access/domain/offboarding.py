"""What access does when someone leaves, is suspended or moves: pure decisions, no I/O.

- A leaver or a suspended person loses every open grant.
- A mover loses the grants tied to accounts of the unit they left: accounts whose unit no
  longer contains them (their new unit is outside the account unit's subtree).
- An owner's ownership goes to the nearest eligible person up their management chain:
  active, not leaving in the same batch, working within the account's unit subtree, and not
  already an owner (a handover to a current owner would leave the account a owner short).
  Nobody eligible → the account is left for an alert.

Each identity event is one offboarding (`offboarding_id`), planned for a whole batch of
events at once (`plan_departures`) so that people leaving together never inherit each
other's accounts, and summed up by one completion event (`completion`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from access.domain.aggregate import raising
from access.domain.audit import audited
from chorus_kit.events import Event
from chorus_kit.events.access import OffboardingCompleted, OwnershipHandover
from chorus_kit.events.catalogue import (
    EMPLOYEE_MOVED,
    EMPLOYEE_OFFBOARDED,
    EMPLOYEE_SUSPENDED,
    event_type,
)
from chorus_kit.events.identity import EmployeeMoved, EmployeeSnapshot

OFFBOARDING_NAMESPACE = uuid.UUID("6f1c2a52-8c1e-4d0e-9a57-0b7f3e0c2d41")
OWNER = "owner"


class Trigger(StrEnum):
    OFFBOARDED = "offboarded"
    SUSPENDED = "suspended"
    MOVED = "moved"


TRIGGERS: dict[str, Trigger] = {
    EMPLOYEE_OFFBOARDED.type: Trigger.OFFBOARDED,
    EMPLOYEE_SUSPENDED.type: Trigger.SUSPENDED,
    EMPLOYEE_MOVED.type: Trigger.MOVED,
}


@dataclass(frozen=True)
class Person:
    id: str
    status: str  # active | suspended | offboarded
    unit_path: tuple[str, ...]  # their unit, then its ancestors
    manager_chain: tuple[str, ...]  # direct manager first


@dataclass(frozen=True)
class OpenGrant:
    grant_id: str
    account_id: str
    account_unit_id: str
    role: str  # owner | publisher | viewer


@dataclass(frozen=True)
class Departure:
    """One offboarding: an identity event about one person, as access acts on it."""

    offboarding_id: str
    trigger: Trigger
    trigger_event_id: str
    person: Person  # as the event describes them (for a mover: their new unit)
    previous_unit_id: str | None = None

    @property
    def leaves(self) -> bool:
        """Leaving staff (not a mover): never eligible to take anything over."""
        return self.trigger is not Trigger.MOVED


@dataclass(frozen=True)
class OwnedAccount:
    account_id: str
    unit_id: str
    owners: tuple[str, ...]


@dataclass(frozen=True)
class Handover:
    account_id: str
    from_id: str
    to_id: str | None  # None: nobody eligible (alert)


@dataclass(frozen=True)
class Plan:
    """What one offboarding does: grants ended one by one (non-owners), ownerships handed
    over through their accounts, and the accounts whose leases and secrets are affected
    (None: every account)."""

    departure: Departure
    grants: tuple[OpenGrant, ...]
    handovers: tuple[Handover, ...]
    account_scope: frozenset[str] | None = field(default=None)
    # Owner grants whose account no longer lists the person: the account's write happened
    # (an earlier attempt's handover), its owner grant change is still to be applied.
    unsynced_owner_grants: tuple[OpenGrant, ...] = field(default=())

    @property
    def offboarding_id(self) -> str:
        return self.departure.offboarding_id


def offboarding_id(trigger_event_id: str) -> str:
    """One offboarding per identity event: a redelivered event finds the same offboarding."""
    return str(uuid.uuid5(OFFBOARDING_NAMESPACE, trigger_event_id))


def departure_from(event: Event) -> Departure:
    """The offboarding an `offboarded`, `suspended` or `moved` event starts."""
    trigger = TRIGGERS[event.type]
    snapshot = event.data_as(event_type(event.type).data_model)
    assert isinstance(snapshot, EmployeeSnapshot)
    return Departure(
        offboarding_id=offboarding_id(event.id),
        trigger=trigger,
        trigger_event_id=event.id,
        person=Person(
            id=snapshot.employee_id,
            status=snapshot.status.value,
            unit_path=tuple(snapshot.unit_path or [snapshot.unit_id]),
            manager_chain=tuple(snapshot.manager_chain),
        ),
        previous_unit_id=snapshot.previous_unit_id if isinstance(snapshot, EmployeeMoved) else None,
    )


def grants_to_revoke(
    trigger: Trigger, grants: Iterable[OpenGrant], *, new_unit_path: Collection[str] = ()
) -> list[OpenGrant]:
    """The open grants this trigger ends."""
    if trigger is not Trigger.MOVED:
        return list(grants)
    # After a move, a grant stays only while the person still works within the account's unit.
    return [g for g in grants if g.account_unit_id not in new_unit_path]


def next_owner(
    leaver: Person,
    *,
    account_unit_id: str,
    current_owners: Collection[str],
    people: Mapping[str, Person],
    leaving: Collection[str],
) -> str | None:
    """The nearest eligible manager of `leaver` to take over an account they owned."""
    for manager_id in leaver.manager_chain:
        manager = people.get(manager_id)
        if manager is None or manager.status != "active":
            continue
        if manager_id in leaving or manager_id in current_owners:
            continue
        if account_unit_id not in manager.unit_path:  # not within the account's unit
            continue
        return manager_id
    return None


def plan_departures(
    departures: Sequence[Departure],
    *,
    open_grants: Mapping[str, Sequence[OpenGrant]],
    accounts: Mapping[str, OwnedAccount],
    people: Mapping[str, Person],
) -> list[Plan]:
    """Plans for a batch of departures (`open_grants` by person, `people` by id as access
    knows them now). Everyone leaving in the batch is ineligible to take over, and an
    account that two leavers own is handed on once per leaver, each seeing the other's."""
    leaving = {d.person.id for d in departures if d.leaves}
    owners = {a.account_id: list(a.owners) for a in accounts.values()}
    taken: set[str] = set()  # a grant two events of the batch end goes to the first
    plans = []
    for departure in departures:
        lost = [
            g
            for g in grants_to_revoke(
                departure.trigger,
                open_grants.get(departure.person.id, ()),
                new_unit_path=departure.person.unit_path,
            )
            if g.grant_id not in taken
        ]
        taken.update(g.grant_id for g in lost)
        handovers, unsynced = [], []
        for grant in lost:
            if grant.role != OWNER:
                continue
            account = accounts.get(grant.account_id)
            current = owners.get(grant.account_id, [])
            if account is None or departure.person.id not in current:
                unsynced.append(grant)  # no longer their account: nothing to hand over
                continue
            successor = next_owner(
                departure.person,
                account_unit_id=account.unit_id,
                current_owners=current,
                people=people,
                leaving=leaving,
            )
            current.remove(departure.person.id)
            if successor is not None:
                current.append(successor)
            handovers.append(Handover(grant.account_id, departure.person.id, successor))
        plans.append(
            Plan(
                departure=departure,
                grants=tuple(g for g in lost if g.role != OWNER),
                handovers=tuple(handovers),
                account_scope=(
                    frozenset(g.account_id for g in lost)
                    if departure.trigger is Trigger.MOVED
                    else None
                ),
                unsynced_owner_grants=tuple(unsynced),
            )
        )
    return plans


def completion(
    departure: Departure,
    *,
    grants_revoked: Iterable[str],
    leases_ended: Iterable[str],
    secrets_flagged: Iterable[str],
    handovers: Iterable[Handover],
    connector_calls: int,
    at: datetime,
) -> OffboardingCompleted:
    """What the offboarding did, as its completion event tells it (lists sorted: the same
    facts always read the same)."""
    return OffboardingCompleted(
        offboarding_id=departure.offboarding_id,
        person_id=departure.person.id,
        trigger=departure.trigger.value,
        trigger_event_id=departure.trigger_event_id,
        grants_revoked=sorted(set(grants_revoked)),
        leases_ended=sorted(set(leases_ended)),
        secrets_flagged=sorted(set(secrets_flagged)),
        ownership=[
            OwnershipHandover(account_id=h.account_id, from_id=h.from_id, to_id=h.to_id)
            for h in sorted(handovers, key=lambda h: h.account_id)
        ],
        connector_calls=connector_calls,
        completed_at=at,
    )


@dataclass(frozen=True)
class Offboarding:
    """The offboarding as an aggregate: it raises its completion (and its audit entry)."""

    id: str
    sequence: int = 0
    pending_events: tuple[Event, ...] = ()


OFFBOARDING_COMPLETED = "chorus.access.offboarding.completed"


def completed(done: OffboardingCompleted, *, actor: str, unit_id: str | None) -> Offboarding:
    """The completion and its audit entry, with ids derived from the offboarding: however
    often it is computed, it is the same two events."""
    effect = done.offboarding_id
    record = raising(Offboarding(done.offboarding_id), (OFFBOARDING_COMPLETED, done), effect=effect)
    return audited(
        record,
        actor=actor,
        action="offboarding.completed",
        target_type="offboarding",
        unit_id=unit_id,
        effect=effect,
        details={
            "person_id": done.person_id,
            "trigger": done.trigger,
            "grants_revoked": len(done.grants_revoked),
            "leases_ended": len(done.leases_ended),
            "secrets_flagged": len(done.secrets_flagged),
            "ownerships_handed_over": sum(o.to_id is not None for o in done.ownership),
            "ownerships_orphaned": sum(o.to_id is None for o in done.ownership),
        },
    )
