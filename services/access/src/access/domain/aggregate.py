"""What every access aggregate shares: raising numbered events, and the clock it reads."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from chorus_kit.events import Event, new_event

SOURCE = "/chorus/access"
# Ids derived from a one-time effect (`<grant id>:end`) are the same whoever computes them,
# so two replicas finishing the same effect write identical events.
_EFFECT_IDS = uuid.UUID("6f1d1c52-3a3e-4c55-9a57-6d0c2a1f4b11")


class Aggregate(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def pending_events(self) -> tuple[Event, ...]: ...


AggregateT = TypeVar("AggregateT", bound=Aggregate)


def utc_now() -> datetime:
    """Now, to the millisecond: what BSON stores, so a stored time equals the one in memory."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def effect_id(effect: str, part: str) -> str:
    """A stable id for one part (an event, an audit entry) of a one-time effect."""
    return str(uuid.uuid5(_EFFECT_IDS, f"{effect}/{part}"))


def raising(
    aggregate: AggregateT,
    *raised: tuple[str, BaseModel],
    effect: str | None = None,
    **changes: Any,
) -> AggregateT:
    """`aggregate` with `changes` applied and `raised` appended to its pending events.

    Events are numbered from the aggregate's sequence. With `effect`, their ids derive from
    it (see `effect_id`), otherwise they are random.
    """
    sequence = aggregate.sequence
    events = list(aggregate.pending_events)
    for type_name, data in raised:
        sequence += 1
        event = new_event(
            type_name, source=SOURCE, subject=aggregate.id, sequence=sequence, data=data
        )
        if effect is not None:
            event = replace(event, id=effect_id(effect, type_name))
        events.append(event)
    return replace(aggregate, sequence=sequence, pending_events=tuple(events), **changes)  # type: ignore[type-var]
