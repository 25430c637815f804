"""Data of platform events: what the plumbing itself reports (dead letters)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MessageDeadLettered(BaseModel):
    """`chorus.platform.alert.dead_lettered`: a consumer parked a message it can never apply."""

    model_config = ConfigDict(extra="forbid")
    group: str
    topic: str
    partition: int
    offset: int
    dlq_topic: str
    reason: str
    detail: str
    event_id: str | None = None
    event_type: str | None = None
