"""REST API of the staff programme: policy, training and certification, survey, opinion
leaders. Parse, call a use case, shape the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from chorus_kit.events.identity import Role
from chorus_kit.paging import decode_cursor, encode_cursor
from chorus_kit.web import CurrentPrincipal
from identity.domain.certification import Assessment, CertificationRecord
from identity.domain.nominations import (
    Ballot,
    CastBallot,
    NominationWindow,
    OpenNominationWindow,
    Phase,
)
from identity.domain.policies import (
    POLICY_ID,
    AcknowledgementState,
    AcknowledgementStatus,
    PolicyVersion,
    PublishPolicy,
)
from identity.domain.survey import AnswerSurvey, CreateSurvey, Survey, SurveyResults
from identity.domain.training import CreateTrainingModule, RecordCompletion, TrainingModule
from identity.engagement_handlers import EngagementHandlers


def _handlers(request: Request) -> EngagementHandlers:
    handlers: EngagementHandlers = request.app.state.engagement
    return handlers


Handlers = Annotated[EngagementHandlers, Depends(_handlers)]
router = APIRouter()


# --- policy ---------------------------------------------------------------------------------
class PolicyVersionRead(BaseModel):
    policy_id: str
    version: int
    title: str
    body_markdown: str
    grace_period_days: int
    effective_at: datetime
    acknowledge_by: datetime

    @classmethod
    def of(cls, version: PolicyVersion) -> PolicyVersionRead:
        return cls(
            policy_id=POLICY_ID,
            version=version.version,
            title=version.title,
            body_markdown=version.body_markdown,
            grace_period_days=version.grace_period_days,
            effective_at=version.effective_at,
            acknowledge_by=version.acknowledge_by,
        )


class AcknowledgePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, description="the version read (must be the current one)")


class AcknowledgementRead(BaseModel):
    version: int
    state: AcknowledgementState
    acknowledged_at: datetime | None
    acknowledge_by: datetime

    @classmethod
    def of(cls, found: AcknowledgementStatus) -> AcknowledgementRead:
        return cls(
            version=found.version,
            state=found.state,
            acknowledged_at=found.acknowledged_at,
            acknowledge_by=found.acknowledge_by,
        )


class UnacknowledgedRead(BaseModel):
    employee_id: str
    given_name: str
    family_name: str
    email: str
    unit_id: str
    state: AcknowledgementState
    acknowledge_by: datetime


class UnacknowledgedPage(BaseModel):
    version: int
    items: list[UnacknowledgedRead]
    next_cursor: str | None


class UnacknowledgedQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    unit_id: str | None = Field(default=None, max_length=100, description="the company if absent")
    limit: int = Field(default=50, ge=1, le=200)
    after: str | None = Field(default=None, max_length=300)


@router.post("/v1/policies", status_code=status.HTTP_201_CREATED)
async def publish_policy(
    body: PublishPolicy, handlers: Handlers, by: CurrentPrincipal
) -> PolicyVersionRead:
    """Publish a new version (admins over the company); everyone must acknowledge it."""
    return PolicyVersionRead.of(await handlers.publish_policy(body, by=by))


@router.get("/v1/policies/current")
async def current_policy(handlers: Handlers, by: CurrentPrincipal) -> PolicyVersionRead:
    return PolicyVersionRead.of(await handlers.current_policy(by=by))


@router.get("/v1/policies/versions/{version}")
async def policy_version(
    version: int, handlers: Handlers, by: CurrentPrincipal
) -> PolicyVersionRead:
    return PolicyVersionRead.of(await handlers.policy_version(version, by=by))


@router.post("/v1/policies/current/acknowledgements")
async def acknowledge_policy(
    body: AcknowledgePolicy, handlers: Handlers, by: CurrentPrincipal
) -> AcknowledgementRead:
    """The caller acknowledges the current version (repeating it changes nothing)."""
    return AcknowledgementRead.of(await handlers.acknowledge_policy(body.version, by=by))


@router.get("/v1/policies/current/acknowledgements/me")
async def my_acknowledgement(handlers: Handlers, by: CurrentPrincipal) -> AcknowledgementRead:
    """acknowledged, pending (with the deadline) or overdue."""
    return AcknowledgementRead.of(await handlers.my_acknowledgement(by=by))


@router.get("/v1/policies/current/unacknowledged")
async def unacknowledged(
    handlers: Handlers, by: CurrentPrincipal, query: Annotated[UnacknowledgedQuery, Query()]
) -> UnacknowledgedPage:
    """Who in a unit (and below) has not acknowledged the current version: admins, auditors."""
    rows, last = await handlers.unacknowledged(
        query.unit_id,
        after=decode_cursor(query.after) if query.after else None,
        limit=query.limit,
        by=by,
    )
    current = await handlers.current_policy(by=by)
    return UnacknowledgedPage(
        version=current.version,
        items=[
            UnacknowledgedRead(
                employee_id=record.id,
                given_name=record.given_name,
                family_name=record.family_name,
                email=record.email,
                unit_id=record.unit_id,
                state=found.state,
                acknowledge_by=found.acknowledge_by,
            )
            for record, found in rows
        ],
        next_cursor=encode_cursor(last) if last else None,
    )


# --- training and certification ---------------------------------------------------------------
class TrainingModuleRead(BaseModel):
    id: str
    title: str
    required_for_roles: list[Role]
    pass_score: int
    created_at: datetime

    @classmethod
    def of(cls, module: TrainingModule) -> TrainingModuleRead:
        return cls(
            id=module.id,
            title=module.title,
            required_for_roles=sorted(module.required_for),
            pass_score=module.pass_score,
            created_at=module.created_at,
        )


class CompletionRead(BaseModel):
    module_id: str
    best_score: int
    passed: bool
    recorded_at: datetime


class CertificationRead(BaseModel):
    employee_id: str
    certified: bool
    reasons: list[str]
    missing_modules: list[str]
    policy_version: int | None
    acknowledged_version: int | None
    acknowledge_by: datetime | None
    completions: list[CompletionRead]

    @classmethod
    def of(cls, record: CertificationRecord, found: Assessment) -> CertificationRead:
        return cls(
            employee_id=record.id,
            certified=found.certified,
            reasons=list(found.reasons),
            missing_modules=list(found.missing_modules),
            policy_version=found.policy_version,
            acknowledged_version=found.acknowledged_version,
            acknowledge_by=found.acknowledge_by,
            completions=[
                CompletionRead(
                    module_id=c.module_id,
                    best_score=c.best_score,
                    passed=c.passed,
                    recorded_at=c.recorded_at,
                )
                for c in sorted(record.completions.values(), key=lambda c: c.module_id)
            ],
        )


@router.post("/v1/training/modules", status_code=status.HTTP_201_CREATED)
async def create_training_module(
    body: CreateTrainingModule, handlers: Handlers, by: CurrentPrincipal
) -> TrainingModuleRead:
    return TrainingModuleRead.of(await handlers.create_module(body, by=by))


@router.get("/v1/training/modules")
async def list_training_modules(
    handlers: Handlers, by: CurrentPrincipal
) -> list[TrainingModuleRead]:
    return [TrainingModuleRead.of(m) for m in await handlers.list_modules(by=by)]


@router.post("/v1/training/modules/{module_id}/completions")
async def record_completion(
    module_id: str, body: RecordCompletion, handlers: Handlers, by: CurrentPrincipal
) -> CertificationRead:
    """Record someone's score (admins over their unit, or an LMS client holding that role)."""
    record, found = await handlers.record_completion(module_id, body, by=by)
    return CertificationRead.of(record, found)


@router.get("/v1/certifications/me")
async def my_certification(handlers: Handlers, by: CurrentPrincipal) -> CertificationRead:
    record, found = await handlers.certification_of(by.sub, by=by)
    return CertificationRead.of(record, found)


@router.get("/v1/certifications/{employee_id}")
async def certification_of(
    employee_id: str, handlers: Handlers, by: CurrentPrincipal
) -> CertificationRead:
    record, found = await handlers.certification_of(employee_id, by=by)
    return CertificationRead.of(record, found)


# --- survey -----------------------------------------------------------------------------------
class QuestionRead(BaseModel):
    text: str
    choices: list[str]


class SurveyRead(BaseModel):
    id: str
    title: str
    unit_id: str
    questions: list[QuestionRead]
    min_responses: int
    status: str
    created_at: datetime
    closed_at: datetime | None
    answered_by_me: bool | None = None

    @classmethod
    def of(cls, found: Survey, *, answered: bool | None = None) -> SurveyRead:
        return cls(
            id=found.id,
            title=found.title,
            unit_id=found.unit_id,
            questions=[QuestionRead(text=q.text, choices=list(q.choices)) for q in found.questions],
            min_responses=found.min_responses,
            status=found.status,
            created_at=found.created_at,
            closed_at=found.closed_at,
            answered_by_me=answered,
        )


class SurveyProgressRead(BaseModel):
    survey_id: str
    status: str
    responses: int


class ChoiceCountRead(BaseModel):
    text: str
    count: int


class QuestionResultRead(BaseModel):
    text: str
    choices: list[ChoiceCountRead]


class SurveyResultsRead(BaseModel):
    survey_id: str
    responses: int
    questions: list[QuestionResultRead]

    @classmethod
    def of(cls, found: SurveyResults) -> SurveyResultsRead:
        return cls(
            survey_id=found.survey_id,
            responses=found.responses,
            questions=[
                QuestionResultRead(
                    text=q.text,
                    choices=[ChoiceCountRead(text=c.text, count=c.count) for c in q.choices],
                )
                for q in found.questions
            ],
        )


@router.post("/v1/surveys", status_code=status.HTTP_201_CREATED)
async def create_survey(body: CreateSurvey, handlers: Handlers, by: CurrentPrincipal) -> SurveyRead:
    return SurveyRead.of(await handlers.create_survey(body, by=by))


@router.get("/v1/surveys")
async def list_surveys(handlers: Handlers, by: CurrentPrincipal) -> list[SurveyRead]:
    return [SurveyRead.of(s) for s in await handlers.list_surveys(by=by)]


@router.get("/v1/surveys/{survey_id}")
async def get_survey(survey_id: str, handlers: Handlers, by: CurrentPrincipal) -> SurveyRead:
    found = await handlers.get_survey(survey_id, by=by)
    return SurveyRead.of(found, answered=await handlers.has_answered(found.id, by=by))


@router.post("/v1/surveys/{survey_id}/responses", status_code=status.HTTP_204_NO_CONTENT)
async def answer_survey(
    survey_id: str, body: AnswerSurvey, handlers: Handlers, by: CurrentPrincipal
) -> Response:
    """Answer once, anonymously: nothing stored, logged or traced ties the answer to you."""
    await handlers.answer_survey(survey_id, body, by=by)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/surveys/{survey_id}/progress")
async def survey_progress(
    survey_id: str, handlers: Handlers, by: CurrentPrincipal
) -> SurveyProgressRead:
    found, responses = await handlers.survey_progress(survey_id, by=by)
    return SurveyProgressRead(survey_id=found.id, status=found.status, responses=responses)


@router.post("/v1/surveys/{survey_id}/close")
async def close_survey(survey_id: str, handlers: Handlers, by: CurrentPrincipal) -> SurveyRead:
    return SurveyRead.of(await handlers.close_survey(survey_id, by=by))


@router.get("/v1/surveys/{survey_id}/results")
async def survey_results(
    survey_id: str, handlers: Handlers, by: CurrentPrincipal
) -> SurveyResultsRead:
    """Counts per choice, for admins: once closed, and only with enough answers."""
    return SurveyResultsRead.of(await handlers.survey_results(survey_id, by=by))


# --- opinion leaders --------------------------------------------------------------------------
class NominationWindowRead(BaseModel):
    id: str
    unit_id: str
    opens_at: datetime
    closes_at: datetime
    threshold: int
    max_nominees: int
    phase: Phase
    closed_at: datetime | None

    @classmethod
    def of(cls, window: NominationWindow) -> NominationWindowRead:
        return cls(
            id=window.id,
            unit_id=window.unit_id,
            opens_at=window.opens_at,
            closes_at=window.closes_at,
            threshold=window.threshold,
            max_nominees=window.max_nominees,
            phase=window.phase(datetime.now(window.closes_at.tzinfo)),
            closed_at=window.closed_at,
        )


class BallotRead(BaseModel):
    window_id: str
    nominees: list[str]

    @classmethod
    def of(cls, ballot: Ballot) -> BallotRead:
        return cls(window_id=ballot.window_id, nominees=list(ballot.nominees))


class NominationCountRead(BaseModel):
    employee_id: str
    nominations: int = Field(description="distinct colleagues who named them")


class LeaderRead(BaseModel):
    employee_id: str
    given_name: str
    family_name: str


class LeadersRead(BaseModel):
    window_id: str
    closed_at: datetime | None
    leaders: list[LeaderRead]


@router.post("/v1/nomination-windows", status_code=status.HTTP_201_CREATED)
async def open_nomination_window(
    body: OpenNominationWindow, handlers: Handlers, by: CurrentPrincipal
) -> NominationWindowRead:
    return NominationWindowRead.of(await handlers.open_window(body, by=by))


@router.get("/v1/nomination-windows")
async def list_nomination_windows(
    handlers: Handlers, by: CurrentPrincipal
) -> list[NominationWindowRead]:
    return [NominationWindowRead.of(w) for w in await handlers.list_windows(by=by)]


@router.get("/v1/nomination-windows/{window_id}")
async def get_nomination_window(
    window_id: str, handlers: Handlers, by: CurrentPrincipal
) -> NominationWindowRead:
    return NominationWindowRead.of(await handlers.get_window(window_id, by=by))


@router.put("/v1/nomination-windows/{window_id}/ballot")
async def cast_ballot(
    window_id: str, body: CastBallot, handlers: Handlers, by: CurrentPrincipal
) -> BallotRead:
    """Name the colleagues you see as most influential; sending again replaces your list."""
    return BallotRead.of(await handlers.cast_ballot(window_id, body, by=by))


@router.get("/v1/nomination-windows/{window_id}/ballot")
async def my_ballot(window_id: str, handlers: Handlers, by: CurrentPrincipal) -> BallotRead:
    return BallotRead.of(await handlers.my_ballot(window_id, by=by))


@router.get("/v1/nomination-windows/{window_id}/counts")
async def nomination_counts(
    window_id: str, handlers: Handlers, by: CurrentPrincipal
) -> list[NominationCountRead]:
    """Distinct peers per nominee, most named first: admins of the window's unit only."""
    counts = await handlers.nomination_counts(window_id, by=by)
    return [
        NominationCountRead(employee_id=employee_id, nominations=n)
        for employee_id, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


@router.post("/v1/nomination-windows/{window_id}/close")
async def close_nomination_window(
    window_id: str, handlers: Handlers, by: CurrentPrincipal
) -> NominationWindowRead:
    return NominationWindowRead.of(await handlers.close_window(window_id, by=by))


@router.get("/v1/nomination-windows/{window_id}/leaders")
async def opinion_leaders(window_id: str, handlers: Handlers, by: CurrentPrincipal) -> LeadersRead:
    """A closed window's opinion leaders (without counts)."""
    window, found = await handlers.leaders(window_id, by=by)
    return LeadersRead(
        window_id=window.id,
        closed_at=window.closed_at,
        leaders=[
            LeaderRead(employee_id=e.id, given_name=e.given_name, family_name=e.family_name)
            for e in found
        ],
    )
