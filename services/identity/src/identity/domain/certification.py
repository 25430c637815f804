"""An employee's certification record: whether they may post for the company (pure rules).

Certified = employed and active, every training module required for one of their roles
passed, and the policy acknowledged (the current version, or within its grace period the
version it replaced). The record keeps what that depends on (acknowledgements,
completions, and the roles and status identity's own employee events report), the last
certification it announced, and a sequence numbering its events: each change that flips
the certification raises exactly one `certification_changed`, in order.

Time changes the answer too: when a new version's deadline passes, those still relying on
the version it replaced lose certification; creating a required module makes those who
have not passed it lose it. The service re-assesses every record when such a rule changes
(see `rules_fingerprint`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from pydantic import BaseModel

from chorus_kit.events import Event, new_event
from chorus_kit.events.identity import EmployeeSnapshot, EmploymentStatus, Role
from chorus_kit.events.policy import CertificationChanged, PolicyAcknowledged
from identity.domain import training
from identity.domain.policies import (
    Policy,
    PolicyVersion,
    acknowledgement_counts,
    personal_deadline,
)
from identity.domain.training import Completion, TrainingModule

SOURCE = "/chorus/identity"
ACKNOWLEDGED = "chorus.identity.policy.acknowledged"
CERTIFICATION_CHANGED = "chorus.identity.policy.certification_changed"

NOT_EMPLOYED = "not_employed"
NO_POLICY = "no_policy"
POLICY_NOT_ACKNOWLEDGED = "policy_not_acknowledged"
TRAINING_INCOMPLETE = "training_incomplete"


@dataclass(frozen=True)
class CertificationRecord:
    id: str  # the employee's id
    status: EmploymentStatus
    roles: frozenset[Role]
    unit_id: str
    unit_path: tuple[str, ...]
    given_name: str
    family_name: str
    email: str
    start_date: datetime | None = None
    acknowledgements: Mapping[int, datetime] = field(default_factory=dict)
    completions: Mapping[str, Completion] = field(default_factory=dict)
    certified: bool = False  # what the last certification_changed said (False before any)
    employee_sequence: int = 0  # the last employee event applied
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())

    @property
    def acknowledged_version(self) -> int | None:
        return max(self.acknowledgements, default=None)


@dataclass(frozen=True)
class Rules:
    """What certification is judged against: the policy and the training modules."""

    policy: Policy
    modules: tuple[TrainingModule, ...]


@dataclass(frozen=True)
class Assessment:
    certified: bool
    reasons: tuple[str, ...]
    missing_modules: tuple[str, ...]
    policy_version: int | None
    acknowledged_version: int | None
    acknowledge_by: datetime | None


def record_from_snapshot(
    snapshot: EmployeeSnapshot,
    *,
    employee_sequence: int,
    start_date: datetime | None,
    previous: CertificationRecord | None = None,
) -> CertificationRecord:
    """The record with identity's view of the employee as of `employee_sequence` (what they
    acknowledged and passed carries over, a rehire included)."""
    base = previous or CertificationRecord(
        id=snapshot.employee_id,
        status=snapshot.status,
        roles=frozenset(),
        unit_id=snapshot.unit_id,
        unit_path=(),
        given_name="",
        family_name="",
        email="",
    )
    return replace(
        base,
        status=snapshot.status,
        roles=frozenset(r.role for r in snapshot.roles),
        unit_id=snapshot.unit_id,
        unit_path=tuple(snapshot.unit_path) or (snapshot.unit_id,),
        given_name=snapshot.given_name,
        family_name=snapshot.family_name,
        email=snapshot.email,
        start_date=start_date or base.start_date,
        employee_sequence=employee_sequence,
    )


def assess(record: CertificationRecord, rules: Rules, *, now: datetime) -> Assessment:
    reasons: list[str] = []
    if record.status is not EmploymentStatus.ACTIVE:
        reasons.append(NOT_EMPLOYED)
    current: PolicyVersion | None = rules.policy.current
    if current is None:
        reasons.append(NO_POLICY)
    elif not acknowledgement_counts(rules.policy, acknowledged=record.acknowledgements, now=now):
        reasons.append(POLICY_NOT_ACKNOWLEDGED)
    missing = training.missing_modules(rules.modules, record.roles, record.completions)
    if missing:
        reasons.append(TRAINING_INCOMPLETE)
    return Assessment(
        certified=not reasons,
        reasons=tuple(reasons),
        missing_modules=tuple(missing),
        policy_version=current.version if current else None,
        acknowledged_version=record.acknowledged_version,
        acknowledge_by=(
            personal_deadline(current, start_date=record.start_date) if current else None
        ),
    )


def _raising(record: CertificationRecord, type_name: str, data: BaseModel) -> CertificationRecord:
    sequence = record.sequence + 1
    event = new_event(type_name, source=SOURCE, subject=record.id, sequence=sequence, data=data)
    return replace(record, sequence=sequence, pending_events=(*record.pending_events, event))


def acknowledge(
    record: CertificationRecord, current: PolicyVersion, *, policy_id: str, now: datetime
) -> CertificationRecord | None:
    """The record with `current` acknowledged (raising `acknowledged`); None if it already was."""
    if current.version in record.acknowledgements:
        return None
    acknowledged = replace(
        record, acknowledgements={**record.acknowledgements, current.version: now}
    )
    data = PolicyAcknowledged(
        employee_id=record.id, policy_id=policy_id, version=current.version, acknowledged_at=now
    )
    return _raising(acknowledged, ACKNOWLEDGED, data)


def complete(
    record: CertificationRecord, module: TrainingModule, *, score: int, now: datetime
) -> CertificationRecord:
    completion = training.record_score(
        record.completions.get(module.id), module, score=score, now=now
    )
    return replace(record, completions={**record.completions, module.id: completion})


def settle(record: CertificationRecord, rules: Rules, *, now: datetime) -> CertificationRecord:
    """The record re-assessed: if its certification flipped, it raises `certification_changed`
    (after whatever events it already carries)."""
    assessment = assess(record, rules, now=now)
    if assessment.certified == record.certified:
        return record
    data = CertificationChanged(
        employee_id=record.id,
        certified=assessment.certified,
        reasons=list(assessment.reasons),
        missing_modules=list(assessment.missing_modules),
        policy_version=assessment.policy_version,
        acknowledged_version=assessment.acknowledged_version,
        acknowledge_by=assessment.acknowledge_by,
        changed_at=now,
    )
    return _raising(replace(record, certified=assessment.certified), CERTIFICATION_CHANGED, data)


def rules_fingerprint(rules: Rules, *, now: datetime) -> tuple[object, ...]:
    """Changes exactly when a rule that certification depends on changes for everybody: a new
    policy version, its deadline passing, a module added. Same fingerprint, same answers for
    everyone whose record did not change."""
    current = rules.policy.current
    return (
        current.version if current else None,
        bool(current and now > current.acknowledge_by),
        tuple(sorted((m.id, m.pass_score, tuple(sorted(m.required_for))) for m in rules.modules)),
    )


def needs_reassessment(
    records: Sequence[CertificationRecord], rules: Rules, *, now: datetime
) -> list[str]:
    """Ids of the records whose announced certification no longer holds."""
    return [r.id for r in records if assess(r, rules, now=now).certified != r.certified]
