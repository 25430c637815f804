"""The social media policy: versions, publishing, and acknowledgement deadlines (pure rules).

Publishing a version asks every employee to acknowledge it within its grace period. Until
that deadline an acknowledgement of the version it replaced still counts (nobody loses
the right to post for the company the moment a new version appears); after it, only an
acknowledgement of the current version does. Someone who starts after a version was
published gets the same grace period from their start date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from chorus_kit.errors import Conflict, NotFound
from chorus_kit.events import Event, new_event
from chorus_kit.events.policy import PolicyPublished

SOURCE = "/chorus/identity"
POLICY_ID = "social-media"
DEFAULT_GRACE_PERIOD_DAYS = 14
PUBLISHED = "chorus.identity.policy.published"


class PublishPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: str = Field(min_length=1, max_length=200)
    body_markdown: str = Field(min_length=1, max_length=200_000)
    grace_period_days: int = Field(default=DEFAULT_GRACE_PERIOD_DAYS, ge=0, le=365)


@dataclass(frozen=True)
class PolicyVersion:
    version: int
    title: str
    body_markdown: str
    grace_period_days: int
    effective_at: datetime
    acknowledge_by: datetime
    published_by: str


@dataclass(frozen=True)
class Policy:
    """The policy aggregate: every version published so far; the last one is current."""

    id: str = POLICY_ID
    versions: tuple[PolicyVersion, ...] = ()
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())

    @property
    def current(self) -> PolicyVersion | None:
        return self.versions[-1] if self.versions else None

    @property
    def replaced(self) -> PolicyVersion | None:
        """The version the current one replaced (whose acknowledgement counts in the grace)."""
        return self.versions[-2] if len(self.versions) > 1 else None

    def version(self, number: int) -> PolicyVersion:
        for found in self.versions:
            if found.version == number:
                return found
        raise NotFound(f"no policy version {number}", code="policy_version_not_found")

    def require_current(self) -> PolicyVersion:
        if self.current is None:
            raise NotFound("no policy has been published yet", code="no_policy")
        return self.current


def publish(policy: Policy, command: PublishPolicy, *, by: str, now: datetime) -> Policy:
    """The policy with a new current version, raising `published`."""
    previous = policy.current
    version = PolicyVersion(
        version=(previous.version + 1) if previous else 1,
        title=command.title,
        body_markdown=command.body_markdown,
        grace_period_days=command.grace_period_days,
        effective_at=now,
        acknowledge_by=now + timedelta(days=command.grace_period_days),
        published_by=by,
    )
    data = PolicyPublished(
        policy_id=policy.id,
        version=version.version,
        previous_version=previous.version if previous else None,
        title=version.title,
        effective_at=version.effective_at,
        acknowledge_by=version.acknowledge_by,
        grace_period_days=version.grace_period_days,
    )
    sequence = policy.sequence + 1
    event = new_event(PUBLISHED, source=SOURCE, subject=policy.id, sequence=sequence, data=data)
    return replace(
        policy,
        versions=(*policy.versions, version),
        sequence=sequence,
        pending_events=(event,),
    )


def personal_deadline(version: PolicyVersion, *, start_date: datetime | None) -> datetime:
    """When this person must have acknowledged `version`: its deadline, or, for someone who
    started after it took effect, the same grace period counted from their start."""
    if start_date is not None and start_date > version.effective_at:
        own = start_date + timedelta(days=version.grace_period_days)
        return max(version.acknowledge_by, own)
    return version.acknowledge_by


def require_current_version(policy: Policy, version: int) -> PolicyVersion:
    """The current version, if `version` names it (one acknowledges what one has read)."""
    current = policy.require_current()
    if version != current.version:
        raise Conflict(
            f"version {version} is not the current policy (version {current.version})",
            code="not_current_version",
        )
    return current


class AcknowledgementState(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    PENDING = "pending"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class AcknowledgementStatus:
    version: int
    state: AcknowledgementState
    acknowledged_at: datetime | None
    acknowledge_by: datetime


def acknowledgement_status(
    current: PolicyVersion,
    *,
    acknowledged: Mapping[int, datetime],
    start_date: datetime | None,
    now: datetime,
) -> AcknowledgementStatus:
    deadline = personal_deadline(current, start_date=start_date)
    at = acknowledged.get(current.version)
    if at is not None:
        state = AcknowledgementState.ACKNOWLEDGED
    elif now <= deadline:
        state = AcknowledgementState.PENDING
    else:
        state = AcknowledgementState.OVERDUE
    return AcknowledgementStatus(
        version=current.version, state=state, acknowledged_at=at, acknowledge_by=deadline
    )


def acknowledgement_counts(
    policy: Policy, *, acknowledged: Mapping[int, datetime], now: datetime
) -> bool:
    """True if what this person acknowledged satisfies the policy now: the current version,
    or the version it replaced while the current version's grace period lasts."""
    current = policy.current
    if current is None:
        return False
    if current.version in acknowledged:
        return True
    replaced = policy.replaced
    return (
        replaced is not None and replaced.version in acknowledged and now <= current.acknowledge_by
    )
