"""Data of audit events: one privileged action, as SIEMs and auditors read it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class AuditOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    DENIED = "denied"
    FAILED = "failed"


class AuditRecorded(BaseModel):
    """`chorus.identity.audit.recorded`: a privileged action (who, what, on what, outcome).

    `details` holds short facts about the action, never a secret, a password or a token.
    """

    model_config = ConfigDict(extra="forbid")
    entry_id: str = Field(min_length=1)
    at: datetime
    actor: str = Field(description="person id, `scim-client:<id>`, or `system`")
    action: str = Field(description="dotted verb, e.g. `employee.offboarded`")
    target_type: str
    target_id: str
    unit_id: str | None = Field(default=None, description="the org unit the target belongs to")
    outcome: AuditOutcome = AuditOutcome.SUCCEEDED
    details: dict[str, str | int | bool | None] = Field(default_factory=dict)
    client_address: str | None = None
