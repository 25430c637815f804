"""Data of the events on `chorus.identity.policy.v1`: policy versions, acknowledgements,
certification to post for the company, and opinion leaders.

Three kinds of aggregate share the topic, each numbering its own events (`ce_sequence`):
the policy (subject = policy id, e.g. `social-media`), an employee's certification record
(subject = employee id; its sequence is independent of the employee topic's), and a
nomination window (subject = window id).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PolicyPublished(BaseModel):
    """`chorus.identity.policy.published`: a new version of a policy is in force.

    Every employee must acknowledge it by `acknowledge_by`; until then an acknowledgement
    of `previous_version` still counts. Someone hired later gets the same grace period from
    their start date (see `CertificationChanged.acknowledge_by`).
    """

    model_config = ConfigDict(extra="forbid")
    policy_id: str = Field(min_length=1)
    version: int = Field(ge=1)
    previous_version: int | None = None
    title: str
    effective_at: datetime
    acknowledge_by: datetime = Field(description="the acknowledgement deadline")
    grace_period_days: int = Field(ge=0)


class PolicyAcknowledged(BaseModel):
    """`chorus.identity.policy.acknowledged`: an employee acknowledged a policy version."""

    model_config = ConfigDict(extra="forbid")
    employee_id: str = Field(min_length=1)
    policy_id: str = Field(min_length=1)
    version: int = Field(ge=1)
    acknowledged_at: datetime


class CertificationChanged(BaseModel):
    """`chorus.identity.policy.certification_changed`: whether the employee may post for the
    company changed. Certified = active, every training module required for one of their
    roles passed, and the current policy acknowledged (or, within its grace period, the
    version it replaced)."""

    model_config = ConfigDict(extra="forbid")
    employee_id: str = Field(min_length=1)
    certified: bool
    reasons: list[str] = Field(
        description="why not certified: not_employed, no_policy, policy_not_acknowledged, "
        "training_incomplete (empty when certified)"
    )
    missing_modules: list[str] = Field(description="required training modules not yet passed")
    policy_version: int | None = Field(description="the current policy version, if any")
    acknowledged_version: int | None = Field(
        description="the latest policy version the employee acknowledged"
    )
    acknowledge_by: datetime | None = Field(
        description="when the current version must be acknowledged by this employee"
    )
    changed_at: datetime


class OpinionLeaderIdentified(BaseModel):
    """`chorus.identity.policy.opinion_leader_identified`: when a nomination window closed,
    at least `threshold` distinct colleagues had named this employee. Once per leader and
    window; nomination counts are not published."""

    model_config = ConfigDict(extra="forbid")
    window_id: str = Field(min_length=1)
    employee_id: str = Field(min_length=1)
    unit_id: str = Field(description="the org unit (with its subtree) the window covered")
    threshold: int = Field(ge=1)
    window_closed_at: datetime
