"""What access does when someone leaves, is suspended or moves: pure decisions, no I/O.

- A leaver or a suspended person loses every open grant.
- A mover loses the grants tied to accounts of the unit they left: accounts whose unit no
  longer contains them (their new unit is outside the account unit's subtree).
- An owner's ownership goes to the nearest eligible person up their management chain:
  active, not leaving in the same batch, working within the account's unit subtree, and not
  already an owner (a handover to a current owner would leave the account a owner short).
  Nobody eligible → the account is left for an alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

OFFBOARDING_NAMESPACE = uuid.UUID("6f1c2a52-8c1e-4d0e-9a57-0b7f3e0c2d41")


class Trigger(StrEnum):
    OFFBOARDED = "offboarded"
    SUSPENDED = "suspended"
    MOVED = "moved"


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


def offboarding_id(trigger_event_id: str) -> str:
    """One offboarding per identity event: a redelivered event finds the same offboarding."""
    return str(uuid.uuid5(OFFBOARDING_NAMESPACE, trigger_event_id))


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
