"""Policy versions and acknowledgement deadlines: pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chorus_kit.errors import Conflict, NotFound
from chorus_kit.events.policy import PolicyPublished
from identity.domain import policies
from identity.domain.policies import AcknowledgementState, Policy, PublishPolicy

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def published(*grace_days: int) -> Policy:
    policy = Policy()
    for n, grace in enumerate(grace_days):
        command = PublishPolicy(title=f"v{n + 1}", body_markdown="# Rules", grace_period_days=grace)
        policy = policies.publish(policy, command, by="admin", now=NOW + timedelta(days=30 * n))
    return policy


def test_publishing_numbers_versions_and_sets_the_deadline_from_the_grace_period() -> None:
    policy = published(14, 7)
    current = policy.require_current()
    assert [v.version for v in policy.versions] == [1, 2]
    assert current.effective_at == NOW + timedelta(days=30)
    assert current.acknowledge_by == current.effective_at + timedelta(days=7)
    assert policy.sequence == 2


def test_the_grace_period_defaults_to_fourteen_days() -> None:
    assert PublishPolicy(title="t", body_markdown="b").grace_period_days == 14


def test_the_published_event_carries_version_effective_time_and_deadline() -> None:
    before = published(14)
    after = policies.publish(
        before, PublishPolicy(title="New", body_markdown="b", grace_period_days=3), by="a", now=NOW
    )
    [event] = after.pending_events
    data = event.data_as(PolicyPublished)
    assert event.type == "chorus.identity.policy.published"
    assert event.subject == "social-media" and event.sequence == before.sequence + 1
    assert (data.version, data.previous_version) == (2, 1)
    assert data.effective_at == NOW and data.acknowledge_by == NOW + timedelta(days=3)


def test_acknowledgement_status_is_pending_until_the_deadline_then_overdue() -> None:
    current = published(14).require_current()
    pending = policies.acknowledgement_status(
        current, acknowledged={}, start_date=None, now=NOW + timedelta(days=13)
    )
    assert pending.state is AcknowledgementState.PENDING
    assert pending.acknowledge_by == NOW + timedelta(days=14)
    overdue = policies.acknowledgement_status(
        current, acknowledged={}, start_date=None, now=NOW + timedelta(days=15)
    )
    assert overdue.state is AcknowledgementState.OVERDUE
    done = policies.acknowledgement_status(
        current, acknowledged={1: NOW}, start_date=None, now=NOW + timedelta(days=15)
    )
    assert done.state is AcknowledgementState.ACKNOWLEDGED and done.acknowledged_at == NOW


def test_someone_who_starts_later_gets_the_grace_period_from_their_start() -> None:
    current = published(14).require_current()
    start = NOW + timedelta(days=40)
    assert policies.personal_deadline(current, start_date=start) == start + timedelta(days=14)
    earlier = NOW - timedelta(days=400)
    assert policies.personal_deadline(current, start_date=earlier) == current.acknowledge_by


def test_only_the_current_version_can_be_acknowledged() -> None:
    policy = published(14, 14)
    assert policies.require_current_version(policy, 2).version == 2
    with pytest.raises(Conflict) as stale:
        policies.require_current_version(policy, 1)
    assert stale.value.code == "not_current_version"
    with pytest.raises(NotFound) as none:
        policies.require_current_version(Policy(), 1)
    assert none.value.code == "no_policy"


def test_the_replaced_version_counts_only_within_the_new_grace_period() -> None:
    policy = published(14, 14)
    deadline = policy.require_current().acknowledge_by
    old_only = {1: NOW}
    assert policies.acknowledgement_counts(policy, acknowledged=old_only, now=deadline)
    assert not policies.acknowledgement_counts(
        policy, acknowledged=old_only, now=deadline + timedelta(seconds=1)
    )
    assert policies.acknowledgement_counts(
        policy, acknowledged={2: NOW}, now=deadline + timedelta(days=99)
    )
    # Two versions back never counts.
    three = policies.publish(policy, PublishPolicy(title="3", body_markdown="b"), by="a", now=NOW)
    assert not policies.acknowledgement_counts(three, acknowledged=old_only, now=NOW)
