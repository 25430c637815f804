"""Opinion leaders by peer nomination (pure rules).

An admin opens a window over an org unit. While it is open each employee of that unit
names up to `max_nominees` colleagues they see as most influential (never themselves);
submitting again replaces their list, so a nominator counts at most once per nominee.
When the window closes (by an admin, or at its end by the service) those named by at
least `threshold` distinct peers who are still employed are its opinion leaders, and one
`opinion_leader_identified` per leader is raised in the same write that closes it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chorus_kit.errors import ChorusError, Conflict
from chorus_kit.events import Event, new_event
from chorus_kit.events.policy import OpinionLeaderIdentified

SOURCE = "/chorus/identity"
LEADER_IDENTIFIED = "chorus.identity.policy.opinion_leader_identified"
DEFAULT_THRESHOLD = 10
DEFAULT_MAX_NOMINEES = 5
OPEN = "open"
CLOSED = "closed"

EmployeeId = Annotated[str, Field(min_length=1, max_length=100)]


class OpenNominationWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    unit_id: str | None = Field(
        default=None, max_length=100, description="whose staff nominate (and are nominated)"
    )
    opens_at: AwareDatetime | None = Field(default=None, description="now if absent")
    closes_at: AwareDatetime
    threshold: int = Field(default=DEFAULT_THRESHOLD, ge=1, le=10_000)
    max_nominees: int = Field(default=DEFAULT_MAX_NOMINEES, ge=1, le=20)


class CastBallot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nominees: list[EmployeeId] = Field(max_length=20, description="an empty list withdraws")


class Phase(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class NominationWindow:
    id: str
    unit_id: str
    opens_at: datetime
    closes_at: datetime
    threshold: int
    max_nominees: int
    opened_by: str
    status: str = OPEN
    closed_at: datetime | None = None
    leaders: tuple[str, ...] = ()
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())

    def phase(self, now: datetime) -> Phase:
        if self.status == CLOSED or now >= self.closes_at:
            return Phase.CLOSED
        return Phase.SCHEDULED if now < self.opens_at else Phase.OPEN

    def is_due(self, now: datetime) -> bool:
        """Past its end but not closed yet: the service closes it."""
        return self.status == OPEN and now >= self.closes_at


@dataclass(frozen=True)
class Ballot:
    window_id: str
    nominator_id: str
    nominees: tuple[str, ...]


def _millis(moment: datetime) -> datetime:
    # What the database keeps: answers and later reads agree.
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def open_window(
    command: OpenNominationWindow, *, unit_id: str, by: str, now: datetime
) -> NominationWindow:
    opens_at, closes_at = _millis(command.opens_at or now), _millis(command.closes_at)
    if closes_at <= max(opens_at, now):
        raise ChorusError("the window must close after it opens, in the future", code="bad_window")
    return NominationWindow(
        id=str(uuid.uuid4()),
        unit_id=unit_id,
        opens_at=opens_at,
        closes_at=closes_at,
        threshold=command.threshold,
        max_nominees=command.max_nominees,
        opened_by=by,
    )


def cast_ballot(
    window: NominationWindow,
    *,
    nominator_id: str,
    nominees: Sequence[str],
    eligible: Collection[str],
    now: datetime,
) -> Ballot:
    """The nominator's list, replacing any earlier one. `eligible`: which of `nominees` are
    active employees of the window's unit."""
    phase = window.phase(now)
    if phase is not Phase.OPEN:
        raise Conflict(f"the nomination window is {phase.value}", code=f"window_{phase.value}")
    if nominator_id in nominees:
        raise ChorusError("you cannot nominate yourself", code="self_nomination")
    if len(set(nominees)) != len(nominees):
        raise ChorusError("each colleague once", code="duplicate_nominee")
    if len(nominees) > window.max_nominees:
        raise ChorusError(
            f"at most {window.max_nominees} colleagues per person", code="too_many_nominees"
        )
    if any(n not in eligible for n in nominees):
        raise ChorusError(
            "nominees must be active colleagues of the window's unit", code="nominee_not_eligible"
        )
    return Ballot(window_id=window.id, nominator_id=nominator_id, nominees=tuple(nominees))


def count_nominations(ballots: Iterable[Ballot]) -> Counter[str]:
    """Per nominee, how many distinct peers named them (self-nominations never count)."""
    named_by: dict[str, set[str]] = {}
    for ballot in ballots:
        for nominee in ballot.nominees:
            if nominee != ballot.nominator_id:
                named_by.setdefault(nominee, set()).add(ballot.nominator_id)
    return Counter({nominee: len(peers) for nominee, peers in named_by.items()})


def leaders(
    counts: Counter[str], *, threshold: int, still_employed: Collection[str]
) -> tuple[str, ...]:
    """Those named by at least `threshold` peers and still employed, most named first."""
    chosen = [n for n, c in counts.items() if c >= threshold and n in still_employed]
    return tuple(sorted(chosen, key=lambda n: (-counts[n], n)))


def close_window(
    window: NominationWindow,
    *,
    counts: Counter[str],
    still_employed: Collection[str],
    now: datetime,
) -> NominationWindow:
    """The window closed with its leaders, raising one event per leader."""
    if window.status == CLOSED:
        raise Conflict("the nomination window is closed already", code="window_closed")
    chosen = leaders(counts, threshold=window.threshold, still_employed=still_employed)
    sequence = window.sequence
    events = []
    for employee_id in chosen:
        sequence += 1
        data = OpinionLeaderIdentified(
            window_id=window.id,
            employee_id=employee_id,
            unit_id=window.unit_id,
            threshold=window.threshold,
            window_closed_at=now,
        )
        events.append(
            new_event(
                LEADER_IDENTIFIED, source=SOURCE, subject=window.id, sequence=sequence, data=data
            )
        )
    return replace(
        window,
        status=CLOSED,
        closed_at=now,
        leaders=chosen,
        sequence=sequence,
        pending_events=tuple(events),
    )
