"""Audit entries ride in the outbox of the aggregate they describe (one atomic write)."""

from __future__ import annotations

from access.domain.aggregate import SOURCE, AggregateT, effect_id, raising
from chorus_kit.audit import audit_entry
from chorus_kit.events.audit import AuditRecorded

AUDIT_RECORDED = "chorus.access.audit.recorded"


def audited(
    aggregate: AggregateT,
    *,
    actor: str,
    action: str,
    target_type: str,
    unit_id: str | None,
    effect: str | None = None,
    details: dict[str, str | int | bool | None] | None = None,
) -> AggregateT:
    """`aggregate` with the audit entry of the action appended to the events it raises.

    With `effect` (a one-time effect two replicas may both finish), the entry's id is
    stable, like the effect's events.
    """
    entry: AuditRecorded = audit_entry(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=aggregate.id,
        unit_id=unit_id,
        details=details,
    )
    if effect is not None:
        entry = entry.model_copy(update={"entry_id": effect_id(effect, "audit")})
    return raising(aggregate, (AUDIT_RECORDED, entry), effect=effect)


__all__ = ["AUDIT_RECORDED", "SOURCE", "audited"]
