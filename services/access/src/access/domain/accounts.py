"""The register of company social accounts, their owners and their per-classification policy.

An account is one document: its descriptive fields, its current owners and the changes to
owner grants those ownerships imply (`owner_grant_changes`, applied to the grants
collection right after the account's write, and again by a sweep if the writer died).
Owners are exactly the active `owner` grants of the account; the account is where an
ownership changes, so the ownership event, the coverage alert and the audit entry commit
in one write.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from access.domain.aggregate import raising
from chorus_kit.errors import Conflict
from chorus_kit.events import Event
from chorus_kit.events.access import (
    AccountRegistered,
    AccountUpdated,
    Classification,
    CoverageLow,
    OwnerAdded,
    OwnerRemoved,
)
from chorus_kit.events.identity import SocialNetwork

MIN_OWNERS = 2
ACTIVE = "active"


class ClassificationPolicy(BaseModel):
    """What an account's classification implies (settings; copied onto each account)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_grant_days: int = Field(gt=0, le=3650, description="longest grant for non-owners")
    rotate_after_checkout: bool
    secret_max_age_days: int = Field(gt=0, le=3650)


DEFAULT_POLICIES: dict[Classification, ClassificationPolicy] = {
    Classification.BRAND: ClassificationPolicy(
        max_grant_days=90, rotate_after_checkout=False, secret_max_age_days=90
    ),
    Classification.REGIONAL: ClassificationPolicy(
        max_grant_days=90, rotate_after_checkout=False, secret_max_age_days=90
    ),
    Classification.EXECUTIVE: ClassificationPolicy(
        max_grant_days=30, rotate_after_checkout=True, secret_max_age_days=30
    ),
    Classification.RECRUITING: ClassificationPolicy(
        max_grant_days=180, rotate_after_checkout=False, secret_max_age_days=180
    ),
}


class OwnerGrantOp(StrEnum):
    OPEN = "open"
    CLOSE = "close"


@dataclass(frozen=True)
class OwnerGrantChange:
    """An owner grant to open or close, decided by an account write, applied after it."""

    grant_id: str
    person_id: str
    op: OwnerGrantOp
    at: datetime
    by: str
    account_sequence: int  # orders changes: an open is applied before a later close
    reason: str | None = None
    offboarding_id: str | None = None
    request_id: str | None = None

    @property
    def key(self) -> str:
        """Unique among an account's pending changes (a grant may be opened and closed)."""
        return f"{self.grant_id}-{self.op.value}"


@dataclass(frozen=True)
class Ownership:
    person_id: str
    grant_id: str
    since: datetime


@dataclass(frozen=True)
class Account:
    id: str
    network: SocialNetwork
    handle: str
    url: str | None
    unit_id: str
    purpose: str | None
    classification: Classification
    policy: ClassificationPolicy
    ownerships: tuple[Ownership, ...]
    registered_at: datetime
    registered_by: str
    status: str = ACTIVE
    coverage_low: bool = False
    connector: dict[str, object] | None = None
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())
    # Changes decided by this write and not yet applied to the grants collection.
    owner_grant_changes: tuple[OwnerGrantChange, ...] = field(default=())

    @property
    def owners(self) -> list[str]:
        return [o.person_id for o in self.ownerships]

    def owner_grant_of(self, person_id: str) -> str | None:
        return next((o.grant_id for o in self.ownerships if o.person_id == person_id), None)

    def snapshot(self) -> dict[str, object]:
        return {
            "account_id": self.id,
            "network": self.network,
            "handle": self.handle,
            "url": self.url,
            "unit_id": self.unit_id,
            "purpose": self.purpose,
            "classification": self.classification,
            "owners": self.owners,
            "status": self.status,
        }


def handle_key(network: SocialNetwork, handle: str) -> str:
    """One register entry per account: the network and the handle, case and `@` ignored."""
    return f"{network.value}:{handle.strip().lstrip('@').lower()}"


def new_grant_id() -> str:
    return str(uuid.uuid4())


def coverage_alert_due(*, was_low: bool, owners_now: int) -> bool:
    """An alert each time coverage drops below the minimum, not again while it stays low."""
    return not was_low and owners_now < MIN_OWNERS


def _committed(
    before: Account,
    after: Account,
    raised: list[tuple[str, BaseModel]],
    changes: Sequence[OwnerGrantChange] = (),
) -> Account:
    """`after` with its events, the coverage flag (and alert) and the owner grant changes."""
    owners_now = len(after.ownerships)
    if coverage_alert_due(was_low=before.coverage_low, owners_now=owners_now):
        low = CoverageLow(**after.snapshot(), active_owners=owners_now)
        raised.append(("chorus.access.account.coverage_low", low))
    after = replace(after, coverage_low=owners_now < MIN_OWNERS)
    after = raising(after, *raised)
    return replace(
        after,
        owner_grant_changes=tuple(replace(c, account_sequence=after.sequence) for c in changes),
    )


def register(
    *,
    network: SocialNetwork,
    handle: str,
    url: str | None,
    unit_id: str,
    purpose: str | None,
    classification: Classification,
    policy: ClassificationPolicy,
    owners: Sequence[str],
    by: str,
    now: datetime,
    account_id: str | None = None,
) -> Account:
    """A new account with its first owners (at least one; fewer than two raises the alert)."""
    people = list(dict.fromkeys(owners))
    if not people:
        raise Conflict("an account needs at least one owner", code="owners_required")
    ownerships = tuple(Ownership(p, new_grant_id(), now) for p in people)
    # Coverage counts as fine before the account exists: registering with one owner alerts.
    nothing = Account(
        id=account_id or str(uuid.uuid4()),
        network=network,
        handle=handle.strip(),
        url=url,
        unit_id=unit_id,
        purpose=purpose,
        classification=classification,
        policy=policy,
        ownerships=(),
        registered_at=now,
        registered_by=by,
    )
    account = replace(nothing, ownerships=ownerships)
    registered = AccountRegistered(**account.snapshot())
    return _committed(
        nothing,
        account,
        [("chorus.access.account.registered", registered)],
        [_open(o, by=by) for o in ownerships],
    )


def _open(ownership: Ownership, *, by: str, request_id: str | None = None) -> OwnerGrantChange:
    return OwnerGrantChange(
        grant_id=ownership.grant_id,
        person_id=ownership.person_id,
        op=OwnerGrantOp.OPEN,
        at=ownership.since,
        by=by,
        account_sequence=0,
        request_id=request_id,
    )


def add_owner(
    account: Account,
    person_id: str,
    *,
    by: str,
    now: datetime,
    grant_id: str | None = None,
    request_id: str | None = None,
    handed_over_from: str | None = None,
) -> Account:
    if person_id in account.owners:
        raise Conflict("this person owns the account already", code="already_owner")
    ownership = Ownership(person_id, grant_id or new_grant_id(), now)
    after = replace(account, ownerships=(*account.ownerships, ownership))
    added = OwnerAdded(
        **after.snapshot(),
        owner_id=person_id,
        handed_over_from=handed_over_from,
    )
    return _committed(
        account,
        after,
        [("chorus.access.account.owner_added", added)],
        [_open(ownership, by=by, request_id=request_id)],
    )


def remove_owner(
    account: Account,
    person_id: str,
    *,
    by: str,
    reason: str,
    now: datetime,
    offboarding_id: str | None = None,
) -> Account:
    """The person no longer owns the account; their owner grant closes now."""
    return hand_over(
        account, person_id, None, by=by, reason=reason, now=now, offboarding_id=offboarding_id
    )


def hand_over(
    account: Account,
    leaving_id: str,
    successor_id: str | None,
    *,
    by: str,
    reason: str,
    now: datetime,
    offboarding_id: str | None = None,
) -> Account:
    """`leaving_id`'s ownership ends and passes to `successor_id` (or to nobody), in one
    write: coverage is judged after both, so a hand-over between two owners raises no alert."""
    grant_id = account.owner_grant_of(leaving_id)
    if grant_id is None:
        raise Conflict("this person does not own the account", code="not_an_owner")
    remaining = tuple(o for o in account.ownerships if o.person_id != leaving_id)
    after = replace(account, ownerships=remaining)
    removed = OwnerRemoved(**after.snapshot(), owner_id=leaving_id, reason=reason)
    raised: list[tuple[str, BaseModel]] = [("chorus.access.account.owner_removed", removed)]
    changes = [
        OwnerGrantChange(
            grant_id=grant_id,
            person_id=leaving_id,
            op=OwnerGrantOp.CLOSE,
            at=now,
            by=by,
            account_sequence=0,
            reason=reason,
            offboarding_id=offboarding_id,
        )
    ]
    if successor_id is not None and successor_id not in after.owners:
        ownership = Ownership(successor_id, new_grant_id(), now)
        after = replace(after, ownerships=(*remaining, ownership))
        added = OwnerAdded(
            **after.snapshot(),
            owner_id=successor_id,
            handed_over_from=leaving_id,
        )
        raised.append(("chorus.access.account.owner_added", added))
        changes.append(_open(ownership, by=by))
    return _committed(account, after, raised, changes)


DESCRIPTIVE_FIELDS = ("handle", "url", "purpose", "classification")


def update_details(
    account: Account,
    *,
    changes: dict[str, object],
    policy_for: dict[Classification, ClassificationPolicy],
) -> Account:
    """New descriptive fields; a new classification brings its policy. Unchanged: no event."""
    differing = {
        name: value
        for name, value in changes.items()
        if name in DESCRIPTIVE_FIELDS and getattr(account, name) != value
    }
    if not differing:
        return account
    after = replace(account, **differing)  # type: ignore[arg-type]
    if "classification" in differing:
        after = replace(after, policy=policy_for[after.classification])
    updated = AccountUpdated(**after.snapshot(), changed=sorted(differing))
    return _committed(account, after, [("chorus.access.account.updated", updated)])
