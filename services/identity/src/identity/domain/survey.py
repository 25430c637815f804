"""The anonymous social media knowledge survey (pure rules).

Each employee answers at most once, yet nothing stored about an answer can be tied to
whoever gave it. Two records exist and nothing joins them:
- a participation marker per (survey, employee): that they answered, not what, not when;
- the answers, only as counts per question and choice (no per-answer row whose id,
  position or time could be matched against the markers).
An `AnonymousAnswer` has no field for who gave it, so no code path can store one with it.
Results are counts, shown to admins once the survey is closed (no watching the counts
move answer by answer) and only if at least `min_responses` people answered.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from chorus_kit.errors import ChorusError, Conflict
from chorus_kit.events import Event

MIN_RESPONSES_FOR_RESULTS = 5
OPEN = "open"
CLOSED = "closed"

Choice = Annotated[str, Field(min_length=1, max_length=300)]


class QuestionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    text: str = Field(min_length=1, max_length=1000)
    choices: list[Choice] = Field(min_length=2, max_length=10)


class CreateSurvey(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: str = Field(min_length=1, max_length=200)
    questions: list[QuestionCreate] = Field(min_length=1, max_length=50)
    unit_id: str | None = Field(
        default=None, max_length=100, description="who is asked (a unit and its subtree); all"
    )
    min_responses: int = Field(
        default=MIN_RESPONSES_FOR_RESULTS,
        ge=MIN_RESPONSES_FOR_RESULTS,
        le=10_000,
        description="results stay hidden below this many answers",
    )


class AnswerSurvey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    choices: list[int] = Field(
        min_length=1, max_length=50, description="per question, the index of the choice"
    )


@dataclass(frozen=True)
class Question:
    text: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Survey:
    id: str
    title: str
    unit_id: str
    questions: tuple[Question, ...]
    min_responses: int
    created_by: str
    created_at: datetime
    status: str = OPEN
    closed_at: datetime | None = None
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())

    @property
    def is_open(self) -> bool:
        return self.status == OPEN


@dataclass(frozen=True)
class AnonymousAnswer:
    """One person's choices, deliberately without who, when, or an id."""

    survey_id: str
    choices: tuple[int, ...]  # per question, the chosen index


@dataclass(frozen=True)
class ChoiceCount:
    text: str
    count: int


@dataclass(frozen=True)
class QuestionResult:
    text: str
    choices: tuple[ChoiceCount, ...]


@dataclass(frozen=True)
class SurveyResults:
    survey_id: str
    responses: int
    questions: tuple[QuestionResult, ...]


def create_survey(command: CreateSurvey, *, unit_id: str, by: str, now: datetime) -> Survey:
    return Survey(
        id=str(uuid.uuid4()),
        title=command.title,
        unit_id=unit_id,
        questions=tuple(Question(q.text, tuple(q.choices)) for q in command.questions),
        min_responses=command.min_responses,
        created_by=by,
        created_at=now,
    )


def close_survey(survey: Survey, *, now: datetime) -> Survey:
    if not survey.is_open:
        raise Conflict("the survey is closed already", code="survey_closed")
    return replace(survey, status=CLOSED, closed_at=now, pending_events=())


def answer(survey: Survey, choices: Sequence[int]) -> AnonymousAnswer:
    """A valid answer: one choice per question, each one the question offers."""
    if not survey.is_open:
        raise Conflict("the survey is closed", code="survey_closed")
    if len(choices) != len(survey.questions):
        raise ChorusError(
            f"answer each of the {len(survey.questions)} questions", code="answer_incomplete"
        )
    for question, chosen in zip(survey.questions, choices, strict=True):
        if not 0 <= chosen < len(question.choices):
            raise ChorusError("a choice the question does not offer", code="no_such_choice")
    return AnonymousAnswer(survey_id=survey.id, choices=tuple(choices))


def results(
    survey: Survey, *, responses: int, counts: Mapping[tuple[int, int], int]
) -> SurveyResults:
    """Counts per question and choice, once closed and with enough answers to hide anyone."""
    if survey.is_open:
        raise Conflict("results are shown once the survey is closed", code="survey_open")
    if responses < survey.min_responses:
        raise Conflict(
            f"fewer than {survey.min_responses} answers: results are withheld",
            code="too_few_responses",
        )
    return SurveyResults(
        survey_id=survey.id,
        responses=responses,
        questions=tuple(
            QuestionResult(
                text=question.text,
                choices=tuple(
                    ChoiceCount(text, counts.get((q, c), 0))
                    for c, text in enumerate(question.choices)
                ),
            )
            for q, question in enumerate(survey.questions)
        ),
    )
