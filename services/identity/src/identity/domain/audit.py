"""Audit entries ride in the outbox of the aggregate they describe (one atomic write)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol, TypeVar

from chorus_kit.events import Event, new_event
from chorus_kit.events.audit import AuditRecorded

SOURCE = "/chorus/identity"
AUDIT_RECORDED = "chorus.identity.audit.recorded"


class Aggregate(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def pending_events(self) -> tuple[Event, ...]: ...


AggregateT = TypeVar("AggregateT", bound=Aggregate)


def audited(aggregate: AggregateT, entry: AuditRecorded) -> AggregateT:
    """`aggregate` with the audit event of `entry` appended to the events it raises."""
    sequence = aggregate.sequence + 1
    event = new_event(
        AUDIT_RECORDED, source=SOURCE, subject=aggregate.id, sequence=sequence, data=entry
    )
    changes: dict[str, Any] = {
        "sequence": sequence,
        "pending_events": (*aggregate.pending_events, event),
    }
    return replace(aggregate, **changes)  # type: ignore[type-var]
