"""The anonymous survey: answer validation, results thresholds, at most one answer."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from chorus_kit.auth import Principal
from chorus_kit.errors import ChorusError, Conflict, Forbidden, NotFound
from chorus_kit.events.identity import EmploymentStatus, Role, RoleAssignment, UnitKind
from identity.domain import survey
from identity.domain.model import Employee
from identity.domain.org_units import OrgTree, OrgUnit
from identity.domain.survey import AnonymousAnswer, AnswerSurvey, CreateSurvey, Survey
from identity.engagement_handlers import EngagementHandlers

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def knowledge_survey(min_responses: int = 5) -> Survey:
    command = CreateSurvey(
        title="What do you know?",
        questions=[
            {"text": "May you share unreleased results?", "choices": ["yes", "no"]},
            {"text": "Who approves company posts?", "choices": ["anyone", "comms", "legal"]},
        ],
        min_responses=min_responses,
    )
    return survey.create_survey(command, unit_id="company", by="admin", now=NOW)


def test_an_answer_has_no_field_that_could_say_who_or_when() -> None:
    assert {f.name for f in dataclasses.fields(AnonymousAnswer)} == {"survey_id", "choices"}


def test_an_answer_names_one_offered_choice_per_question() -> None:
    asked = knowledge_survey()
    assert survey.answer(asked, [1, 2]).choices == (1, 2)
    with pytest.raises(ChorusError) as incomplete:
        survey.answer(asked, [1])
    assert incomplete.value.code == "answer_incomplete"
    with pytest.raises(ChorusError) as unknown:
        survey.answer(asked, [1, 3])
    assert unknown.value.code == "no_such_choice"
    with pytest.raises(ChorusError):
        survey.answer(asked, [-1, 0])
    closed = survey.close_survey(asked, now=NOW)
    with pytest.raises(Conflict) as late:
        survey.answer(closed, [0, 0])
    assert late.value.code == "survey_closed"


def test_results_wait_for_the_close_and_for_enough_answers() -> None:
    asked = knowledge_survey(min_responses=5)
    with pytest.raises(Conflict) as still_open:
        survey.results(asked, responses=50, counts={})
    assert still_open.value.code == "survey_open"
    closed = survey.close_survey(asked, now=NOW)
    with pytest.raises(Conflict) as few:
        survey.results(closed, responses=4, counts={(0, 1): 4})
    assert few.value.code == "too_few_responses"
    shown = survey.results(closed, responses=5, counts={(0, 1): 5, (1, 1): 3, (1, 2): 2})
    assert [c.count for c in shown.questions[0].choices] == [0, 5]
    assert [c.count for c in shown.questions[1].choices] == [0, 3, 2]


def test_the_results_threshold_cannot_be_set_below_five() -> None:
    with pytest.raises(ValidationError):
        CreateSurvey(title="t", questions=[{"text": "q", "choices": ["a", "b"]}], min_responses=2)


# --- the use case with in-memory storage: at most one answer per person ------------------------
class InMemorySurveys:
    def __init__(self, *surveys: Survey) -> None:
        self.rows = {s.id: s for s in surveys}
        self.markers: set[tuple[str, str]] = set()
        self.counts: dict[tuple[int, int], int] = {}
        self.responses = 0

    async def get(self, survey_id: str) -> Survey:
        if survey_id not in self.rows:
            raise NotFound("no", code="survey_not_found")
        return self.rows[survey_id]

    async def mark_participation(self, survey_id: str, employee_id: str) -> None:
        if (survey_id, employee_id) in self.markers:
            raise Conflict("answered", code="already_answered")
        self.markers.add((survey_id, employee_id))

    async def add_answer(self, answer: AnonymousAnswer) -> None:
        self.responses += 1
        for q, c in enumerate(answer.choices):
            self.counts[(q, c)] = self.counts.get((q, c), 0) + 1


class Staff:
    def __init__(self, *employees: Employee) -> None:
        self.rows = {e.id: e for e in employees}

    async def get(self, employee_id: str) -> Employee:
        if employee_id not in self.rows:
            raise NotFound("no", code="employee_not_found")
        return self.rows[employee_id]


class Tree:
    async def tree(self) -> OrgTree:
        return OrgTree(
            [
                OrgUnit(id="company", name="Co", kind=UnitKind.COMPANY, parent_id=None),
                OrgUnit(id="sub-b", name="B", kind=UnitKind.SUBSIDIARY, parent_id="company"),
            ]
        )


def employee(employee_id: str, *, status: EmploymentStatus = EmploymentStatus.ACTIVE) -> Employee:
    return Employee(
        id=employee_id,
        email=f"{employee_id}@example.com",
        given_name="E",
        family_name=employee_id,
        unit_id="company",
        manager_id=None,
        manager_chain=(),
        roles=(),
        status=status,
        start_date=NOW,
    )


def caller(sub: str) -> Principal:
    return Principal(
        sub=sub,
        roles=(RoleAssignment(role=Role.EMPLOYEE, unit="company"),),
        issued_at=NOW,
        token_id="t",
    )


def handlers_with(surveys: InMemorySurveys, staff: Staff) -> EngagementHandlers:
    unused: Any = None
    return EngagementHandlers(
        policies=unused,
        modules=unused,
        certifications=unused,
        surveys=surveys,  # type: ignore[arg-type]
        nominations=unused,
        employees=staff,  # type: ignore[arg-type]
        units=Tree(),
        events_written=lambda *_: None,
    )


async def test_each_employee_answers_at_most_once() -> None:
    asked = knowledge_survey()
    surveys = InMemorySurveys(asked)
    handlers = handlers_with(surveys, Staff(employee("ann"), employee("bob")))
    await handlers.answer_survey(asked.id, AnswerSurvey(choices=[1, 2]), by=caller("ann"))
    with pytest.raises(Conflict) as twice:
        await handlers.answer_survey(asked.id, AnswerSurvey(choices=[0, 0]), by=caller("ann"))
    assert twice.value.code == "already_answered"
    await handlers.answer_survey(asked.id, AnswerSurvey(choices=[1, 1]), by=caller("bob"))
    assert surveys.responses == 2
    assert surveys.counts == {(0, 1): 2, (1, 2): 1, (1, 1): 1}


async def test_a_bad_answer_is_refused_before_the_person_is_marked() -> None:
    asked = knowledge_survey()
    surveys = InMemorySurveys(asked)
    handlers = handlers_with(surveys, Staff(employee("ann")))
    with pytest.raises(ChorusError):
        await handlers.answer_survey(asked.id, AnswerSurvey(choices=[9, 9]), by=caller("ann"))
    assert surveys.markers == set()
    await handlers.answer_survey(asked.id, AnswerSurvey(choices=[0, 0]), by=caller("ann"))
    assert surveys.responses == 1


async def test_only_current_staff_of_the_survey_unit_answer() -> None:
    asked = knowledge_survey()
    elsewhere = dataclasses.replace(asked, id="s-b", unit_id="sub-b")
    surveys = InMemorySurveys(asked, elsewhere)
    gone = employee("gone", status=EmploymentStatus.OFFBOARDED)
    handlers = handlers_with(surveys, Staff(employee("ann"), gone))
    for who, survey_id in (("gone", asked.id), ("stranger", asked.id), ("ann", "s-b")):
        with pytest.raises(Forbidden):
            await handlers.answer_survey(survey_id, AnswerSurvey(choices=[0, 0]), by=caller(who))
    assert surveys.responses == 0
