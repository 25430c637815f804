"""Use cases of the staff programme: the social media policy and its acknowledgements,
training and certification to post for the company, the anonymous knowledge survey, and
opinion leaders by peer nomination.

Each write checks authorisation against the org tree, stores the new state with its events
(and, for privileged actions, an audit entry) in one document write, and hands the events
to the outbox relay.

| what happens | use case |
|---|---|
| admin publishes a policy version | `publish_policy` |
| employee acknowledges it | `acknowledge_policy` |
| admin creates a training module | `create_module` (re-assessment follows, `run_due_work`) |
| admin / LMS records a completion | `record_completion` |
| identity's employee events | `apply_employee_events` (roles, status, unit of the record) |
| a policy deadline passes, a module appears | `run_due_work` → `reassess_everyone` |
| admin creates / closes a survey | `create_survey` / `close_survey` |
| employee answers a survey | `answer_survey` |
| admin opens / closes a nomination window | `open_window` / `close_window` |
| a window's end passes | `run_due_work` → closes it |
| employee nominates colleagues | `cast_ballot` |
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from chorus_kit.audit import audit_entry
from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict, Forbidden, NotFound
from chorus_kit.events import Event
from chorus_kit.events.audit import AuditRecorded
from chorus_kit.events.catalogue import event_type
from chorus_kit.events.identity import EmployeeSnapshot, EmploymentStatus, Role
from identity.domain import certification, nominations, policies, survey, training
from identity.domain.audit import audited
from identity.domain.authorization import (
    holds_over,
    require_admin_over,
    require_role_over,
)
from identity.domain.certification import Assessment, CertificationRecord, Rules
from identity.domain.model import Employee
from identity.domain.nominations import Ballot, CastBallot, NominationWindow, OpenNominationWindow
from identity.domain.org_units import OrgTree
from identity.domain.policies import AcknowledgementStatus, Policy, PolicyVersion, PublishPolicy
from identity.domain.survey import AnswerSurvey, CreateSurvey, Survey, SurveyResults
from identity.domain.training import CreateTrainingModule, RecordCompletion, TrainingModule

SYSTEM = "system"
WRITE_ATTEMPTS = 5  # a record written concurrently (a request and the consumer) is retried
SWEEP_PAGE = 200
# Records written at once by a run of employee events (each one conditional write).
RECORD_WRITES_IN_FLIGHT = 16
ADMIN_OR_AUDITOR = (Role.ADMIN, Role.AUDITOR)


class Unavailable(ChorusError):
    status = 503
    code = "unavailable"


# --- what the use cases need of storage ------------------------------------------------------
class PolicyRepository(Protocol):
    async def get(self, policy_id: str = ...) -> Policy: ...
    async def save(self, policy: Policy, *, expected_sequence: int) -> None: ...


class TrainingModuleRepository(Protocol):
    async def add(self, module: TrainingModule) -> None: ...
    async def get(self, module_id: str) -> TrainingModule: ...
    async def all(self) -> list[TrainingModule]: ...


class CertificationRepository(Protocol):
    async def find(self, employee_id: str) -> CertificationRecord | None: ...
    async def find_many(self, employee_ids: Sequence[str]) -> dict[str, CertificationRecord]: ...
    async def add(self, record: CertificationRecord) -> None: ...
    async def add_many(self, records: Sequence[CertificationRecord]) -> set[str]: ...
    async def save(self, record: CertificationRecord, *, expected_sequence: int) -> None: ...
    async def page(self, *, after: str | None, limit: int) -> list[CertificationRecord]: ...
    async def unacknowledged(
        self, *, version: int, unit_id: str, after: str | None, limit: int
    ) -> list[CertificationRecord]: ...


class SurveyRepository(Protocol):
    async def add(self, survey: Survey) -> None: ...
    async def get(self, survey_id: str) -> Survey: ...
    async def all(self) -> list[Survey]: ...
    async def save(self, survey: Survey, *, expected_sequence: int) -> None: ...
    async def mark_participation(self, survey_id: str, employee_id: str) -> None: ...
    async def has_participated(self, survey_id: str, employee_id: str) -> bool: ...
    async def participants(self, survey_id: str) -> int: ...
    async def add_answer(self, answer: survey.AnonymousAnswer) -> None: ...
    async def tally(self, survey_id: str) -> tuple[int, dict[tuple[int, int], int]]: ...


class NominationRepository(Protocol):
    async def add(self, window: NominationWindow) -> None: ...
    async def get(self, window_id: str) -> NominationWindow: ...
    async def all(self) -> list[NominationWindow]: ...
    async def due(self, now: datetime, *, limit: int = ...) -> list[NominationWindow]: ...
    async def save(self, window: NominationWindow, *, expected_sequence: int) -> None: ...
    async def put_ballot(self, ballot: Ballot) -> None: ...
    async def get_ballot(self, window_id: str, nominator_id: str) -> Ballot: ...
    async def ballots_of(self, window_id: str) -> list[Ballot]: ...


class Directory(Protocol):
    """Identity's own staff directory (the employee store)."""

    async def get(self, employee_id: str) -> Employee: ...
    async def get_many(self, employee_ids: Sequence[str]) -> list[Employee]: ...


class OrgUnits(Protocol):
    async def tree(self) -> OrgTree: ...


# Hands a committed write's events to the outbox relay (repository, aggregate id, events).
EventsWritten = Callable[[object, str, Sequence[Event]], None]
RecordChange = Callable[[CertificationRecord, datetime], CertificationRecord | None]


class _RunRead(NamedTuple):
    """What a run of employee events read once, for each employee's first attempt: the
    rules, the records that exist, and whom the directory knows among those without one."""

    rules: Rules
    records: Mapping[str, CertificationRecord]
    employees: Mapping[str, Employee]


def _now() -> datetime:
    """Now, to the millisecond: what the database keeps, so what we answer and emit matches
    what a later read returns."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _changed(
    base: CertificationRecord,
    change: RecordChange,
    rules: Rules,
    *,
    audit: AuditRecorded | None = None,
) -> CertificationRecord:
    """`base` after `change`, re-assessed under `rules` (and audited, for a person's action)."""
    now = _now()
    after = certification.settle(change(base, now) or base, rules, now=now)
    return audited(after, audit) if audit is not None else after


def root_unit(tree: OrgTree) -> str:
    for unit in tree.units():
        if unit.parent_id is None:
            return unit.id
    raise NotFound("the org tree has no root unit", code="unit_not_found")


def _works_in(employee: Employee, unit_id: str, tree: OrgTree) -> bool:
    """Active, and in `unit_id` or below it."""
    return employee.status is EmploymentStatus.ACTIVE and unit_id in tree.path(employee.unit_id)


@dataclass
class EngagementHandlers:
    policies: PolicyRepository
    modules: TrainingModuleRepository
    certifications: CertificationRepository
    surveys: SurveyRepository
    nominations: NominationRepository
    employees: Directory
    units: OrgUnits
    events_written: EventsWritten
    # The rules every record was last re-assessed under (None: not yet, in this process).
    _assessed_under: tuple[object, ...] | None = field(default=None, init=False)

    # --- shared ---------------------------------------------------------------------------
    async def _unit_in_scope(self, unit_id: str | None) -> tuple[str, OrgTree]:
        tree = await self.units.tree()
        unit = unit_id or root_unit(tree)
        if not tree.exists(unit):
            raise ChorusError(f"no org unit {unit}", code="unit_not_found")
        return unit, tree

    async def _employee_of(self, by: Principal) -> Employee:
        """The caller as an employee (a provisioning client or a stranger is not one)."""
        try:
            employee = await self.employees.get(by.sub)
        except NotFound:
            raise Forbidden("only employees can do this", code="not_an_employee") from None
        if employee.status is EmploymentStatus.OFFBOARDED:
            raise Forbidden("only current employees can do this", code="not_an_employee")
        return employee

    async def _rules(self) -> Rules:
        return Rules(policy=await self.policies.get(), modules=tuple(await self.modules.all()))

    # --- policy -----------------------------------------------------------------------------
    async def publish_policy(self, command: PublishPolicy, *, by: Principal) -> PolicyVersion:
        """A new version (admins over the whole company); everybody acknowledges it again."""
        tree = await self.units.tree()
        root = root_unit(tree)
        require_admin_over(by, root, tree)
        policy = await self.policies.get()
        published = policies.publish(policy, command, by=by.sub, now=_now())
        version = published.require_current()
        entry = audit_entry(
            actor=by.sub,
            action="policy.published",
            target_type="policy",
            target_id=policy.id,
            unit_id=root,
            details={"version": version.version, "grace_period_days": version.grace_period_days},
        )
        published = audited(published, entry)
        await self.policies.save(published, expected_sequence=policy.sequence)
        self.events_written(self.policies, published.id, published.pending_events)
        return version

    async def current_policy(self, *, by: Principal) -> PolicyVersion:
        return (await self.policies.get()).require_current()

    async def policy_version(self, version: int, *, by: Principal) -> PolicyVersion:
        return (await self.policies.get()).version(version)

    async def acknowledge_policy(self, version: int, *, by: Principal) -> AcknowledgementStatus:
        """The caller acknowledges the current version (again: no second event)."""
        employee = await self._employee_of(by)
        policy = await self.policies.get()
        current = policies.require_current_version(policy, version)

        def acknowledge(record: CertificationRecord, now: datetime) -> CertificationRecord | None:
            return certification.acknowledge(record, current, policy_id=policy.id, now=now)

        record = await self._change_record(employee.id, acknowledge)
        return self._status(record, current)

    async def my_acknowledgement(self, *, by: Principal) -> AcknowledgementStatus:
        employee = await self._employee_of(by)
        current = (await self.policies.get()).require_current()
        record = await self._record_of(employee)
        return self._status(record, current)

    @staticmethod
    def _status(record: CertificationRecord, current: PolicyVersion) -> AcknowledgementStatus:
        return policies.acknowledgement_status(
            current,
            acknowledged=record.acknowledgements,
            start_date=record.start_date,
            now=_now(),
        )

    async def unacknowledged(
        self, unit_id: str | None, *, after: str | None, limit: int, by: Principal
    ) -> tuple[list[tuple[CertificationRecord, AcknowledgementStatus]], str | None]:
        """Current staff of a unit (and its subtree) yet to acknowledge the current version:
        for admins and auditors of that unit."""
        unit, tree = await self._unit_in_scope(unit_id)
        require_role_over(by, ADMIN_OR_AUDITOR, unit, tree, code="not_admin_or_auditor_of_unit")
        current = (await self.policies.get()).require_current()
        found = await self.certifications.unacknowledged(
            version=current.version, unit_id=unit, after=after, limit=limit + 1
        )
        more = len(found) > limit
        found = found[:limit]
        rows = [(r, self._status(r, current)) for r in found]
        return rows, found[-1].id if more and found else None

    # --- training and certification -------------------------------------------------------
    async def create_module(
        self, command: CreateTrainingModule, *, by: Principal
    ) -> TrainingModule:
        tree = await self.units.tree()
        root = root_unit(tree)
        require_admin_over(by, root, tree)
        module = training.create_module(command, by=by.sub, now=_now())
        entry = audit_entry(
            actor=by.sub,
            action="training_module.created",
            target_type="training_module",
            target_id=module.id,
            unit_id=root,
            details={
                "required_for": ",".join(sorted(r.value for r in module.required_for)),
                "pass_score": module.pass_score,
            },
        )
        module = audited(module, entry)
        await self.modules.add(module)
        self.events_written(self.modules, module.id, module.pending_events)
        return module

    async def list_modules(self, *, by: Principal) -> list[TrainingModule]:
        return await self.modules.all()

    async def record_completion(
        self, module_id: str, command: RecordCompletion, *, by: Principal
    ) -> tuple[CertificationRecord, Assessment]:
        """A score for someone, recorded by an admin over their unit (or an LMS client with
        that role); people do not record their own scores."""
        module = await self.modules.get(module_id)
        employee = await self.employees.get(command.employee_id)
        tree = await self.units.tree()
        require_admin_over(by, employee.unit_id, tree)
        if employee.status is EmploymentStatus.OFFBOARDED:
            raise Conflict("the employee has left", code="not_employed")

        def complete(record: CertificationRecord, now: datetime) -> CertificationRecord:
            return certification.complete(record, module, score=command.score, now=now)

        entry = audit_entry(
            actor=by.sub,
            action="training.completion_recorded",
            target_type="employee",
            target_id=employee.id,
            unit_id=employee.unit_id,
            details={"module_id": module.id, "score": command.score},
        )
        record = await self._change_record(employee.id, complete, audit=entry)
        return record, certification.assess(record, await self._rules(), now=_now())

    async def certification_of(
        self, employee_id: str, *, by: Principal
    ) -> tuple[CertificationRecord, Assessment]:
        """Someone's certification: themselves, or admins and auditors over their unit."""
        employee = await self.employees.get(employee_id)
        if by.sub != employee.id:
            tree = await self.units.tree()
            if not holds_over(by, ADMIN_OR_AUDITOR, employee.unit_id, tree):
                raise Forbidden("you may not read this employee", code="not_allowed_to_read")
        record = await self._record_of(employee)
        return record, certification.assess(record, await self._rules(), now=_now())

    async def _record_of(self, employee: Employee) -> CertificationRecord:
        stored = await self.certifications.find(employee.id)
        return stored or self._new_record(employee)

    @staticmethod
    def _new_record(employee: Employee) -> CertificationRecord:
        return certification.record_from_snapshot(
            EmployeeSnapshot.model_validate(employee.snapshot()),
            employee_sequence=employee.sequence,
            start_date=employee.start_date,
        )

    async def _change_record(
        self,
        employee_id: str,
        change: RecordChange,
        *,
        audit: AuditRecorded | None = None,
        read: _RunRead | None = None,
    ) -> CertificationRecord:
        """Apply `change` to the employee's record, re-assess it, store it with its events.

        A record that does not exist yet starts from the directory's view of the employee.
        The write is conditional on the record's sequence; losing to a concurrent write
        (the consumer, a sweep) means reading again and re-applying. `read`: what a run of
        events read already (records absent from it do not exist), for the first attempt.
        """
        for _ in range(WRITE_ATTEMPTS):
            known: Employee | None = None
            if read is not None:
                rules, stored = read.rules, read.records.get(employee_id)
                known = read.employees.get(employee_id)
                read = None
            else:
                rules, stored = await self._rules(), await self.certifications.find(employee_id)
            base = stored or self._new_record(known or await self.employees.get(employee_id))
            after = _changed(base, change, rules, audit=audit)
            if after == stored:
                return stored  # nothing to change, nothing to announce
            try:
                if stored is None:
                    await self.certifications.add(after)
                else:
                    await self.certifications.save(after, expected_sequence=stored.sequence)
            except Conflict as exc:
                if exc.code == "concurrent_change":
                    continue
                raise
            self.events_written(self.certifications, after.id, after.pending_events)
            return after
        raise Conflict("the record is busy; retry", code="concurrent_change")

    async def apply_employee_events(self, events: Sequence[Event]) -> None:
        """Identity's own employee events keep each record's roles, unit and status current.

        A run (the consumer hands them over together) reads the rules and its records once,
        then applies each employee's events in order, employees concurrently: a bulk of
        leavers costs a read per run, not four per event. Safe to run twice: an event at or
        below the record's last applied sequence changes nothing."""
        changes: dict[str, list[RecordChange]] = {}
        for event in events:
            employee_id, change = _record_change_of(event)
            changes.setdefault(employee_id, []).append(change)
        rules = await self._rules()
        stored = await self.certifications.find_many(list(changes))
        # Those without a record yet start from the directory: read together, not one by one.
        without = [e for e in changes if e not in stored]
        known = {e.id: e for e in await self.employees.get_many(without)} if without else {}
        # The records a single event creates go in together (a bulk of leavers whose records
        # do not exist yet: one insert, not one per employee); the rest one by one.
        created = await self._create_records(
            {e: changes[e][0] for e in without if len(changes[e]) == 1 and e in known},
            rules=rules,
            employees=known,
        )
        gate = asyncio.Semaphore(RECORD_WRITES_IN_FLIGHT)

        async def apply(employee_id: str, in_order: list[RecordChange]) -> None:
            async with gate:
                read: _RunRead | None = _RunRead(rules, stored, known)
                for change in in_order:
                    await self._change_record(employee_id, change, read=read)
                    read = None  # the record changed: a later event reads it again

        # Every employee's writes run to their end (one cancelled between its write and
        # handing its events to the relay would leave them to the sweep); then the consumer
        # sees the first failure itself (whether it is transient decides the retry).
        outcomes = await asyncio.gather(
            *(apply(e, c) for e, c in changes.items() if e not in created),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _create_records(
        self,
        firsts: Mapping[str, RecordChange],
        *,
        rules: Rules,
        employees: Mapping[str, Employee],
    ) -> set[str]:
        """New records, each from the directory's view and its one change, in one insert;
        the employees whose record was created (one created meanwhile is left to the
        one-by-one path, which reads it)."""
        records = {
            employee_id: _changed(self._new_record(employees[employee_id]), change, rules)
            for employee_id, change in firsts.items()
        }
        created = await self.certifications.add_many(list(records.values()))
        for employee_id in created:
            after = records[employee_id]
            self.events_written(self.certifications, after.id, after.pending_events)
        return created

    async def reassess_everyone(self, rules: Rules | None = None) -> int:
        """Announce every certification that the current rules (and time) changed."""
        rules = rules or await self._rules()
        changed = 0
        after: str | None = None
        while page := await self.certifications.page(after=after, limit=SWEEP_PAGE):
            for employee_id in certification.needs_reassessment(page, rules, now=_now()):
                await self._change_record(employee_id, lambda record, _: record)
                changed += 1
            after = page[-1].id
        return changed

    async def run_due_work(self) -> None:
        """The scheduler's tick: re-assess everybody when the rules changed (a policy version,
        its deadline passing, a new module; and once at start, which also finishes a sweep a
        crash interrupted), and close nomination windows whose end has come."""
        rules = await self._rules()
        fingerprint = certification.rules_fingerprint(rules, now=_now())
        if fingerprint != self._assessed_under:
            await self.reassess_everyone(rules)
            self._assessed_under = fingerprint
        for window in await self.nominations.due(_now()):
            try:
                await self._close_window(window, actor=SYSTEM)
            except Conflict:
                continue  # another replica, or an admin, closed it first

    # --- survey -----------------------------------------------------------------------------
    async def create_survey(self, command: CreateSurvey, *, by: Principal) -> Survey:
        unit, tree = await self._unit_in_scope(command.unit_id)
        require_admin_over(by, unit, tree)
        created = survey.create_survey(command, unit_id=unit, by=by.sub, now=_now())
        entry = audit_entry(
            actor=by.sub,
            action="survey.created",
            target_type="survey",
            target_id=created.id,
            unit_id=unit,
            details={"questions": len(created.questions)},
        )
        created = audited(created, entry)
        await self.surveys.add(created)
        self.events_written(self.surveys, created.id, created.pending_events)
        return created

    async def list_surveys(self, *, by: Principal) -> list[Survey]:
        return await self.surveys.all()

    async def get_survey(self, survey_id: str, *, by: Principal) -> Survey:
        return await self.surveys.get(survey_id)

    async def survey_progress(self, survey_id: str, *, by: Principal) -> tuple[Survey, int]:
        """How many answered so far (admins of the survey's unit; no answer content)."""
        found = await self.surveys.get(survey_id)
        require_admin_over(by, found.unit_id, await self.units.tree())
        return found, await self.surveys.participants(found.id)

    async def has_answered(self, survey_id: str, *, by: Principal) -> bool:
        return await self.surveys.has_participated(survey_id, by.sub)

    async def answer_survey(self, survey_id: str, command: AnswerSurvey, *, by: Principal) -> None:
        """Count the caller's answer, at most once, without keeping who gave it.

        The marker is written first, then the counts. A second submit (even concurrent) fails
        on the marker's unique id: 409. If the process dies, or the count fails, between the
        two, the person is marked and their answer is lost: the lesser evil, since undoing
        the marker could let an answer whose count did land be counted twice. Nothing here
        logs; the two writes are not traced (see the survey store).
        """
        found = await self.surveys.get(survey_id)
        employee = await self._employee_of(by)
        if not _works_in(employee, found.unit_id, await self.units.tree()):
            raise Forbidden("this survey is not for your unit", code="not_in_survey_unit")
        answer = survey.answer(found, command.choices)  # refuse bad input before marking
        await self.surveys.mark_participation(found.id, employee.id)
        try:
            await self.surveys.add_answer(answer)
        except Exception:
            # No cause chained: the database's message could name the choices counted.
            raise Unavailable(
                "your answer could not be counted", code="answer_not_counted"
            ) from None

    async def close_survey(self, survey_id: str, *, by: Principal) -> Survey:
        found = await self.surveys.get(survey_id)
        require_admin_over(by, found.unit_id, await self.units.tree())
        closed = survey.close_survey(found, now=_now())
        entry = audit_entry(
            actor=by.sub,
            action="survey.closed",
            target_type="survey",
            target_id=found.id,
            unit_id=found.unit_id,
        )
        closed = audited(closed, entry)
        await self.surveys.save(closed, expected_sequence=found.sequence)
        self.events_written(self.surveys, closed.id, closed.pending_events)
        return closed

    async def survey_results(self, survey_id: str, *, by: Principal) -> SurveyResults:
        found = await self.surveys.get(survey_id)
        require_admin_over(by, found.unit_id, await self.units.tree())
        responses, counts = await self.surveys.tally(found.id)
        return survey.results(found, responses=responses, counts=counts)

    # --- opinion leaders ----------------------------------------------------------------------
    async def open_window(
        self, command: OpenNominationWindow, *, by: Principal
    ) -> NominationWindow:
        unit, tree = await self._unit_in_scope(command.unit_id)
        require_admin_over(by, unit, tree)
        window = nominations.open_window(command, unit_id=unit, by=by.sub, now=_now())
        entry = audit_entry(
            actor=by.sub,
            action="nomination_window.opened",
            target_type="nomination_window",
            target_id=window.id,
            unit_id=unit,
            details={
                "threshold": window.threshold,
                "max_nominees": window.max_nominees,
                "closes_at": window.closes_at.isoformat(),
            },
        )
        window = audited(window, entry)
        await self.nominations.add(window)
        self.events_written(self.nominations, window.id, window.pending_events)
        return window

    async def list_windows(self, *, by: Principal) -> list[NominationWindow]:
        return await self.nominations.all()

    async def get_window(self, window_id: str, *, by: Principal) -> NominationWindow:
        return await self.nominations.get(window_id)

    async def cast_ballot(self, window_id: str, command: CastBallot, *, by: Principal) -> Ballot:
        window = await self.nominations.get(window_id)
        tree = await self.units.tree()
        nominator = await self._employee_of(by)
        if not _works_in(nominator, window.unit_id, tree):
            raise Forbidden("this window is not for your unit", code="not_in_window_unit")
        named = await self.employees.get_many(list(dict.fromkeys(command.nominees)))
        eligible = {e.id for e in named if _works_in(e, window.unit_id, tree)}
        ballot = nominations.cast_ballot(
            window,
            nominator_id=nominator.id,
            nominees=command.nominees,
            eligible=eligible,
            now=_now(),
        )
        await self.nominations.put_ballot(ballot)
        return ballot

    async def my_ballot(self, window_id: str, *, by: Principal) -> Ballot:
        window = await self.nominations.get(window_id)
        return await self.nominations.get_ballot(window.id, by.sub)

    async def nomination_counts(self, window_id: str, *, by: Principal) -> Counter[str]:
        """Who was named by how many distinct peers: for admins of the window's unit only."""
        window = await self.nominations.get(window_id)
        require_admin_over(by, window.unit_id, await self.units.tree())
        return nominations.count_nominations(await self.nominations.ballots_of(window.id))

    async def close_window(self, window_id: str, *, by: Principal) -> NominationWindow:
        window = await self.nominations.get(window_id)
        require_admin_over(by, window.unit_id, await self.units.tree())
        return await self._close_window(window, actor=by.sub)

    async def _close_window(self, window: NominationWindow, *, actor: str) -> NominationWindow:
        """Close it with its leaders and their events, in one write (so, once)."""
        if window.status == nominations.CLOSED:
            raise Conflict("the nomination window is closed already", code="window_closed")
        counts = nominations.count_nominations(await self.nominations.ballots_of(window.id))
        candidates = [n for n, c in counts.items() if c >= window.threshold]
        still_employed = {
            e.id
            for e in await self.employees.get_many(candidates)
            if e.status is not EmploymentStatus.OFFBOARDED
        }
        closed = nominations.close_window(
            window, counts=counts, still_employed=still_employed, now=_now()
        )
        entry = audit_entry(
            actor=actor,
            action="nomination_window.closed",
            target_type="nomination_window",
            target_id=window.id,
            unit_id=window.unit_id,
            details={"leaders": len(closed.leaders), "automatic": actor == SYSTEM},
        )
        closed = audited(closed, entry)
        await self.nominations.save(closed, expected_sequence=window.sequence)
        self.events_written(self.nominations, closed.id, closed.pending_events)
        return closed

    async def leaders(
        self, window_id: str, *, by: Principal
    ) -> tuple[NominationWindow, list[Employee]]:
        """A closed window's opinion leaders (names, not counts), for anyone signed in."""
        window = await self.nominations.get(window_id)
        if window.status != nominations.CLOSED:
            raise Conflict("leaders are known once the window closes", code="window_not_closed")
        found = {e.id: e for e in await self.employees.get_many(list(window.leaders))}
        return window, [found[i] for i in window.leaders if i in found]


def _record_change_of(event: Event) -> tuple[str, RecordChange]:
    """The employee an employee event is about, and what it changes in their record (the
    event carries the full snapshot)."""
    data = event.data_as(event_type(event.type).data_model)
    snapshot = EmployeeSnapshot.model_validate(
        data.model_dump(include=set(EmployeeSnapshot.model_fields))
    )
    start_date = getattr(data, "start_date", None)  # hired and rehired carry one

    def apply(record: CertificationRecord, now: datetime) -> CertificationRecord | None:
        if record.employee_sequence >= event.sequence:
            return None
        return certification.record_from_snapshot(
            snapshot, employee_sequence=event.sequence, start_date=start_date, previous=record
        )

    return snapshot.employee_id, apply
