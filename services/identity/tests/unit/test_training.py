"""Training modules and certification to post for the company: pure rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chorus_kit.events.identity import EmployeeSnapshot, EmploymentStatus, Role, RoleAssignment
from chorus_kit.events.policy import CertificationChanged
from identity.domain import certification, policies, training
from identity.domain.certification import CertificationRecord, Rules
from identity.domain.policies import Policy, PublishPolicy
from identity.domain.training import CreateTrainingModule, TrainingModule

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def module(*roles: Role, pass_score: int = 70) -> TrainingModule:
    command = CreateTrainingModule(
        title="Basics", required_for_roles=list(roles), pass_score=pass_score
    )
    return training.create_module(command, by="admin", now=NOW)


def policy_with(versions: int, *, grace_days: int = 14) -> Policy:
    policy = Policy()
    for n in range(versions):
        command = PublishPolicy(title="p", body_markdown="b", grace_period_days=grace_days)
        policy = policies.publish(policy, command, by="a", now=NOW + timedelta(days=30 * n))
    return replace(policy, pending_events=())


def record(*roles: Role, status: EmploymentStatus = EmploymentStatus.ACTIVE) -> CertificationRecord:
    snapshot = EmployeeSnapshot(
        employee_id="e1",
        email="e1@example.com",
        given_name="E",
        family_name="One",
        unit_id="company",
        unit_path=["company"],
        roles=[RoleAssignment(role=r, unit="company") for r in roles],
        status=status,
    )
    return certification.record_from_snapshot(snapshot, employee_sequence=1, start_date=NOW)


def acknowledged(r: CertificationRecord, policy: Policy, at: datetime = NOW) -> CertificationRecord:
    done = certification.acknowledge(r, policy.require_current(), policy_id=policy.id, now=at)
    assert done is not None
    return replace(done, pending_events=())


def test_everyone_holds_employee_and_role_modules_bind_only_their_holders() -> None:
    basics, comms_only = module(Role.EMPLOYEE), module(Role.COMMS)
    assert training.required_modules([basics, comms_only], []) == [basics]
    assert {m.id for m in training.required_modules([basics, comms_only], [Role.COMMS])} == {
        basics.id,
        comms_only.id,
    }


def test_a_pass_is_kept_and_the_best_score_remembered() -> None:
    basics = module(Role.EMPLOYEE, pass_score=70)
    failed = training.record_score(None, basics, score=50, now=NOW)
    assert not failed.passed
    passed = training.record_score(failed, basics, score=70, now=NOW)
    assert passed.passed and passed.best_score == 70
    later = training.record_score(passed, basics, score=10, now=NOW)
    assert later.passed and later.best_score == 70


def test_certified_needs_the_policy_acknowledged_and_every_required_module_passed() -> None:
    policy, basics = policy_with(1), module(Role.EMPLOYEE)
    rules = Rules(policy=policy, modules=(basics,))
    fresh = record(Role.EMPLOYEE)
    verdict = certification.assess(fresh, rules, now=NOW)
    assert not verdict.certified
    assert verdict.reasons == ("policy_not_acknowledged", "training_incomplete")
    assert verdict.missing_modules == (basics.id,)
    acked = acknowledged(fresh, policy)
    assert certification.assess(acked, rules, now=NOW).reasons == ("training_incomplete",)
    done = certification.complete(acked, basics, score=90, now=NOW)
    assert certification.assess(done, rules, now=NOW).certified
    assert not certification.assess(done, Rules(Policy(), (basics,)), now=NOW).certified


def test_suspended_or_offboarded_people_are_not_certified() -> None:
    policy = policy_with(1)
    rules = Rules(policy=policy, modules=())
    suspended = acknowledged(record(status=EmploymentStatus.SUSPENDED), policy)
    assert certification.assess(suspended, rules, now=NOW).reasons == ("not_employed",)


def test_a_flip_raises_one_certification_changed_numbered_after_the_other_events() -> None:
    policy = policy_with(1)
    rules = Rules(policy=policy, modules=())
    start = record()
    acked = certification.acknowledge(start, policy.require_current(), policy_id=policy.id, now=NOW)
    assert acked is not None
    settled = certification.settle(acked, rules, now=NOW)
    assert [e.type for e in settled.pending_events] == [
        "chorus.identity.policy.acknowledged",
        "chorus.identity.policy.certification_changed",
    ]
    assert [e.sequence for e in settled.pending_events] == [1, 2]
    assert settled.certified and settled.sequence == 2
    changed = settled.pending_events[1].data_as(CertificationChanged)
    assert changed.certified and changed.employee_id == "e1" and changed.policy_version == 1
    # Nothing changed, nothing announced.
    again = certification.settle(replace(settled, pending_events=()), rules, now=NOW)
    assert again.pending_events == ()


def test_acknowledging_twice_changes_nothing() -> None:
    policy = policy_with(1)
    once = acknowledged(record(), policy)
    assert (
        certification.acknowledge(once, policy.require_current(), policy_id=policy.id, now=NOW)
        is None
    )


def test_a_new_version_uncertifies_only_after_its_deadline() -> None:
    first = policy_with(1)
    certified = replace(acknowledged(record(), first), certified=True)
    second = policy_with(2)  # version 2 took effect 30 days after version 1
    deadline = second.require_current().acknowledge_by
    rules = Rules(policy=second, modules=())
    assert certification.needs_reassessment([certified], rules, now=deadline) == []
    late = deadline + timedelta(seconds=1)
    assert certification.needs_reassessment([certified], rules, now=late) == ["e1"]
    lapsed = certification.settle(certified, rules, now=late)
    data = lapsed.pending_events[0].data_as(CertificationChanged)
    assert not data.certified and data.reasons == ["policy_not_acknowledged"]
    assert data.acknowledged_version == 1 and data.policy_version == 2


def test_a_new_required_module_and_a_role_change_can_each_uncertify() -> None:
    policy = policy_with(1)
    certified = replace(acknowledged(record(Role.EMPLOYEE), policy), certified=True)
    comms_module = module(Role.COMMS)
    rules = Rules(policy=policy, modules=(comms_module,))
    assert certification.needs_reassessment([certified], rules, now=NOW) == []
    promoted = replace(certified, roles=frozenset({Role.EMPLOYEE, Role.COMMS}))
    assert certification.needs_reassessment([promoted], rules, now=NOW) == ["e1"]
    everyone_module = module(Role.EMPLOYEE)
    stricter = Rules(policy=policy, modules=(comms_module, everyone_module))
    assert certification.needs_reassessment([certified], stricter, now=NOW) == ["e1"]


def test_the_rules_fingerprint_moves_with_versions_deadlines_and_modules() -> None:
    policy = policy_with(1)
    rules = Rules(policy=policy, modules=())
    deadline = policy.require_current().acknowledge_by
    base = certification.rules_fingerprint(rules, now=NOW)
    assert certification.rules_fingerprint(rules, now=NOW + timedelta(days=1)) == base
    assert certification.rules_fingerprint(rules, now=deadline + timedelta(seconds=1)) != base
    grown = Rules(policy=policy, modules=(module(Role.EMPLOYEE),))
    assert certification.rules_fingerprint(grown, now=NOW) != base
    assert certification.rules_fingerprint(Rules(policy_with(2), ()), now=NOW) != base


def test_employee_events_update_roles_and_status_but_keep_what_was_done() -> None:
    policy = policy_with(1)
    acked = acknowledged(record(Role.EMPLOYEE), policy)
    snapshot = EmployeeSnapshot(
        employee_id="e1",
        email="e1@example.com",
        given_name="E",
        family_name="One",
        unit_id="dept",
        unit_path=["dept", "company"],
        roles=[RoleAssignment(role=Role.COMMS, unit="dept")],
        status=EmploymentStatus.SUSPENDED,
    )
    after = certification.record_from_snapshot(
        snapshot, employee_sequence=5, start_date=None, previous=acked
    )
    assert after.roles == frozenset({Role.COMMS}) and after.unit_path == ("dept", "company")
    assert after.status is EmploymentStatus.SUSPENDED and after.employee_sequence == 5
    assert after.acknowledgements == acked.acknowledgements and after.start_date == NOW
