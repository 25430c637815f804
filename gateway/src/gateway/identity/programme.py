"""The staff programme in identity: the social media policy and its acknowledgements,
training and certification, the anonymous survey, peer nominations of opinion leaders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

import strawberry

from chorus_kit.events.identity import Role
from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.identity.types import Employee, load_employee
from gateway.pagination import PageInfo
from gateway.problems import (
    Conflict,
    Forbidden,
    NotFound,
    ProblemResult,
    ServiceUnavailable,
    ValidationFailed,
    from_backend,
    invalid,
)

Json = dict[str, Any]
T = TypeVar("T")


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _id(value: str) -> str:
    return quote(value, safe="")


async def _ask(
    info: Info, method: str, path: str, shape: Callable[[Any], T], body: Any = None
) -> T | ProblemResult:
    context = info.context
    try:
        answer = await context.services.identity.call(method, path, context.bearer, body)
    except (BackendUnavailable, BackendProblem) as exc:
        return from_backend(exc)
    return shape(answer)


# --- policy ---------------------------------------------------------------------------------
@strawberry.type(description="A version of the social media policy.")
class PolicyVersion:
    policy_id: strawberry.ID
    version: int
    title: str
    body_markdown: str
    grace_period_days: int
    effective_at: datetime
    acknowledge_by: datetime

    @classmethod
    def of(cls, raw: Json) -> PolicyVersion:
        return cls(
            policy_id=strawberry.ID(raw["policy_id"]),
            version=raw["version"],
            title=raw["title"],
            body_markdown=raw["body_markdown"],
            grace_period_days=raw["grace_period_days"],
            effective_at=datetime.fromisoformat(raw["effective_at"]),
            acknowledge_by=datetime.fromisoformat(raw["acknowledge_by"]),
        )


@strawberry.type(description="Where you stand with the current policy version.")
class PolicyAcknowledgement:
    version: int
    state: str = strawberry.field(description="acknowledged, pending or overdue")
    acknowledged_at: datetime | None
    acknowledge_by: datetime

    @classmethod
    def of(cls, raw: Json) -> PolicyAcknowledgement:
        return cls(
            version=raw["version"],
            state=raw["state"],
            acknowledged_at=_when(raw.get("acknowledged_at")),
            acknowledge_by=datetime.fromisoformat(raw["acknowledge_by"]),
        )


PolicyResult = Annotated[
    PolicyVersion | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("PolicyResult"),
]
PolicyAcknowledgementResult = Annotated[
    PolicyAcknowledgement | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("PolicyAcknowledgementResult"),
]


@strawberry.input
class PublishPolicyInput:
    title: str
    body_markdown: str
    grace_period_days: int | None = None


@strawberry.type(description="Someone who has not acknowledged the current version yet.")
class PendingAcknowledgement:
    employee_id: strawberry.ID
    given_name: str
    family_name: str
    email: str
    unit_id: strawberry.ID
    state: str = strawberry.field(description="pending or overdue")
    acknowledge_by: datetime

    @strawberry.field
    async def employee(self, info: Info) -> Employee | None:
        return await load_employee(info, self.employee_id)


@strawberry.type(description="Who in a unit (and below) has not acknowledged the policy.")
class PendingAcknowledgements:
    version: int
    nodes: list[PendingAcknowledgement] = strawberry.field(metadata={"list_size": 1})
    page_info: PageInfo

    @classmethod
    def of(cls, raw: Json, *, after: str | None) -> PendingAcknowledgements:
        return cls(
            version=raw["version"],
            nodes=[
                PendingAcknowledgement(
                    employee_id=strawberry.ID(r["employee_id"]),
                    given_name=r["given_name"],
                    family_name=r["family_name"],
                    email=r["email"],
                    unit_id=strawberry.ID(r["unit_id"]),
                    state=r["state"],
                    acknowledge_by=datetime.fromisoformat(r["acknowledge_by"]),
                )
                for r in raw["items"]
            ],
            page_info=PageInfo(
                has_next_page=raw.get("next_cursor") is not None,
                has_previous_page=after is not None,
                start_cursor=None,
                end_cursor=raw.get("next_cursor"),
            ),
        )


PendingAcknowledgementsResult = Annotated[
    PendingAcknowledgements
    | NotFound
    | Forbidden
    | Conflict
    | ValidationFailed
    | ServiceUnavailable,
    strawberry.union("PendingAcknowledgementsResult"),
]


# --- training and certification ---------------------------------------------------------------
@strawberry.type
class TrainingModule:
    id: strawberry.ID
    title: str
    required_for_roles: list[Role]
    pass_score: int
    created_at: datetime

    @classmethod
    def of(cls, raw: Json) -> TrainingModule:
        return cls(
            id=strawberry.ID(raw["id"]),
            title=raw["title"],
            required_for_roles=[Role(r) for r in raw["required_for_roles"]],
            pass_score=raw["pass_score"],
            created_at=datetime.fromisoformat(raw["created_at"]),
        )


@strawberry.type
class TrainingModules:
    items: list[TrainingModule] = strawberry.field(metadata={"list_size": 20})


@strawberry.type
class TrainingCompletion:
    module_id: strawberry.ID
    best_score: int
    passed: bool
    recorded_at: datetime


@strawberry.type(description="Whether someone may post for the company, and why not.")
class Certification:
    employee_id: strawberry.ID
    certified: bool
    reasons: list[str]
    missing_modules: list[strawberry.ID]
    policy_version: int | None
    acknowledged_version: int | None
    acknowledge_by: datetime | None
    completions: list[TrainingCompletion] = strawberry.field(metadata={"list_size": 10})

    @strawberry.field
    async def employee(self, info: Info) -> Employee | None:
        return await load_employee(info, self.employee_id)

    @classmethod
    def of(cls, raw: Json) -> Certification:
        return cls(
            employee_id=strawberry.ID(raw["employee_id"]),
            certified=raw["certified"],
            reasons=list(raw["reasons"]),
            missing_modules=[strawberry.ID(m) for m in raw["missing_modules"]],
            policy_version=raw.get("policy_version"),
            acknowledged_version=raw.get("acknowledged_version"),
            acknowledge_by=_when(raw.get("acknowledge_by")),
            completions=[
                TrainingCompletion(
                    module_id=strawberry.ID(c["module_id"]),
                    best_score=c["best_score"],
                    passed=c["passed"],
                    recorded_at=datetime.fromisoformat(c["recorded_at"]),
                )
                for c in raw.get("completions", [])
            ],
        )


TrainingModulesResult = Annotated[
    TrainingModules | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("TrainingModulesResult"),
]
TrainingModuleResult = Annotated[
    TrainingModule | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("TrainingModuleResult"),
]
CertificationResult = Annotated[
    Certification | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("CertificationResult"),
]


@strawberry.input
class CreateTrainingModuleInput:
    title: str
    required_for_roles: list[Role]
    pass_score: int


# --- survey -----------------------------------------------------------------------------------
@strawberry.type
class SurveyQuestion:
    text: str
    choices: list[str]


@strawberry.type(description="An anonymous survey of a unit's staff.")
class Survey:
    id: strawberry.ID
    title: str
    unit_id: strawberry.ID
    questions: list[SurveyQuestion] = strawberry.field(metadata={"list_size": 10})
    min_responses: int
    status: str
    created_at: datetime
    closed_at: datetime | None
    answered_by_me: bool | None

    @classmethod
    def of(cls, raw: Json) -> Survey:
        return cls(
            id=strawberry.ID(raw["id"]),
            title=raw["title"],
            unit_id=strawberry.ID(raw["unit_id"]),
            questions=[
                SurveyQuestion(text=q["text"], choices=list(q["choices"])) for q in raw["questions"]
            ],
            min_responses=raw["min_responses"],
            status=raw["status"],
            created_at=datetime.fromisoformat(raw["created_at"]),
            closed_at=_when(raw.get("closed_at")),
            answered_by_me=raw.get("answered_by_me"),
        )


@strawberry.type
class Surveys:
    items: list[Survey] = strawberry.field(metadata={"list_size": 20})


@strawberry.type
class ChoiceCount:
    text: str
    count: int


@strawberry.type
class QuestionResult:
    text: str
    choices: list[ChoiceCount]


@strawberry.type(description="Counts per choice (closed surveys with enough answers only).")
class SurveyResults:
    survey_id: strawberry.ID
    responses: int
    questions: list[QuestionResult] = strawberry.field(metadata={"list_size": 10})

    @classmethod
    def of(cls, raw: Json) -> SurveyResults:
        return cls(
            survey_id=strawberry.ID(raw["survey_id"]),
            responses=raw["responses"],
            questions=[
                QuestionResult(
                    text=q["text"],
                    choices=[ChoiceCount(text=c["text"], count=c["count"]) for c in q["choices"]],
                )
                for q in raw["questions"]
            ],
        )


@strawberry.type(description="How many have answered so far (never who).")
class SurveyProgress:
    survey_id: strawberry.ID
    status: str
    responses: int


SurveyProgressResult = Annotated[
    SurveyProgress | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("SurveyProgressResult"),
]


@strawberry.type(description="Your answer was counted (anonymously).")
class SurveyAnswered:
    survey_id: strawberry.ID


SurveysResult = Annotated[
    Surveys | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("SurveysResult"),
]
SurveyResult = Annotated[
    Survey | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("SurveyResult"),
]
SurveyResultsResult = Annotated[
    SurveyResults | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("SurveyResultsResult"),
]
SurveyAnswerResult = Annotated[
    SurveyAnswered | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("SurveyAnswerResult"),
]


@strawberry.input
class SurveyQuestionInput:
    text: str
    choices: list[str]


@strawberry.input
class CreateSurveyInput:
    title: str
    questions: list[SurveyQuestionInput]
    unit_id: strawberry.ID | None = None
    min_responses: int | None = None


# --- opinion leaders --------------------------------------------------------------------------
@strawberry.type(description="A period in which staff name their most influential colleagues.")
class NominationWindow:
    id: strawberry.ID
    unit_id: strawberry.ID
    opens_at: datetime
    closes_at: datetime
    threshold: int
    max_nominees: int
    phase: str = strawberry.field(description="scheduled, open or closed")
    closed_at: datetime | None

    @classmethod
    def of(cls, raw: Json) -> NominationWindow:
        return cls(
            id=strawberry.ID(raw["id"]),
            unit_id=strawberry.ID(raw["unit_id"]),
            opens_at=datetime.fromisoformat(raw["opens_at"]),
            closes_at=datetime.fromisoformat(raw["closes_at"]),
            threshold=raw["threshold"],
            max_nominees=raw["max_nominees"],
            phase=raw["phase"],
            closed_at=_when(raw.get("closed_at")),
        )


@strawberry.type
class NominationWindows:
    items: list[NominationWindow] = strawberry.field(metadata={"list_size": 10})


@strawberry.type(description="Your nominees in a window (replaced whole when sent again).")
class Ballot:
    window_id: strawberry.ID
    nominees: list[strawberry.ID]


@strawberry.type
class OpinionLeader:
    employee_id: strawberry.ID
    given_name: str
    family_name: str

    @strawberry.field
    async def employee(self, info: Info) -> Employee | None:
        return await load_employee(info, self.employee_id)


@strawberry.type(description="A closed window's opinion leaders (never the counts).")
class OpinionLeaders:
    window_id: strawberry.ID
    closed_at: datetime | None
    leaders: list[OpinionLeader] = strawberry.field(metadata={"list_size": 20})

    @classmethod
    def of(cls, raw: Json) -> OpinionLeaders:
        return cls(
            window_id=strawberry.ID(raw["window_id"]),
            closed_at=_when(raw.get("closed_at")),
            leaders=[
                OpinionLeader(
                    employee_id=strawberry.ID(e["employee_id"]),
                    given_name=e["given_name"],
                    family_name=e["family_name"],
                )
                for e in raw["leaders"]
            ],
        )


@strawberry.type
class NominationCount:
    employee_id: strawberry.ID
    nominations: int = strawberry.field(description="distinct colleagues who named them")


@strawberry.type(description="Nominations per nominee, most named first (the unit's admins).")
class NominationCounts:
    items: list[NominationCount] = strawberry.field(metadata={"list_size": 20})


NominationCountsResult = Annotated[
    NominationCounts | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("NominationCountsResult"),
]


def _ballot(raw: Json) -> Ballot:
    return Ballot(
        window_id=strawberry.ID(raw["window_id"]),
        nominees=[strawberry.ID(n) for n in raw["nominees"]],
    )


NominationWindowsResult = Annotated[
    NominationWindows | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("NominationWindowsResult"),
]
NominationWindowResult = Annotated[
    NominationWindow | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("NominationWindowResult"),
]
BallotResult = Annotated[
    Ballot | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("BallotResult"),
]
OpinionLeadersResult = Annotated[
    OpinionLeaders | NotFound | Forbidden | Conflict | ValidationFailed | ServiceUnavailable,
    strawberry.union("OpinionLeadersResult"),
]


@strawberry.input
class OpenNominationWindowInput:
    closes_at: datetime
    unit_id: strawberry.ID | None = None
    opens_at: datetime | None = None
    threshold: int | None = None
    max_nominees: int | None = None


def _without_nulls(body: Json) -> Json:
    return {k: v for k, v in body.items() if v is not None}


# --- queries and mutations ----------------------------------------------------------------------
@strawberry.type
class ProgrammeQuery:
    @strawberry.field(description="The social media policy in force.")
    async def current_policy(self, info: Info) -> PolicyResult:
        return await _ask(info, "GET", "/v1/policies/current", PolicyVersion.of)

    @strawberry.field(description="Your acknowledgement of the current policy version.")
    async def my_policy_acknowledgement(self, info: Info) -> PolicyAcknowledgementResult:
        return await _ask(
            info, "GET", "/v1/policies/current/acknowledgements/me", PolicyAcknowledgement.of
        )

    @strawberry.field
    async def policy_version(self, info: Info, version: int) -> PolicyResult:
        return await _ask(info, "GET", f"/v1/policies/versions/{version}", PolicyVersion.of)

    @strawberry.field(
        description="Who in a unit (and below) has not acknowledged the current policy "
        "(admins and auditors).",
        metadata={"cost": 2},
    )
    async def pending_policy_acknowledgements(
        self,
        info: Info,
        unit_id: strawberry.ID | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> PendingAcknowledgementsResult:
        if not 1 <= first <= 200:
            return invalid("first must be between 1 and 200", code="bad_page_size", path="first")
        query = urlencode(
            {k: v for k, v in {"unit_id": unit_id, "limit": first, "after": after}.items() if v}
        )
        return await _ask(
            info,
            "GET",
            f"/v1/policies/current/unacknowledged?{query}",
            lambda raw: PendingAcknowledgements.of(raw, after=after),
        )

    @strawberry.field
    async def training_modules(self, info: Info) -> TrainingModulesResult:
        return await _ask(
            info,
            "GET",
            "/v1/training/modules",
            lambda raw: TrainingModules(items=[TrainingModule.of(m) for m in raw]),
        )

    @strawberry.field(description="Your certification to post for the company.")
    async def my_certification(self, info: Info) -> CertificationResult:
        return await _ask(info, "GET", "/v1/certifications/me", Certification.of)

    @strawberry.field(description="Someone's certification (admins over their unit).")
    async def certification(self, info: Info, employee_id: strawberry.ID) -> CertificationResult:
        return await _ask(info, "GET", f"/v1/certifications/{_id(employee_id)}", Certification.of)

    @strawberry.field(description="Surveys open to you.")
    async def surveys(self, info: Info) -> SurveysResult:
        return await _ask(
            info, "GET", "/v1/surveys", lambda raw: Surveys(items=[Survey.of(s) for s in raw])
        )

    @strawberry.field
    async def survey(self, info: Info, id: strawberry.ID) -> SurveyResult:
        return await _ask(info, "GET", f"/v1/surveys/{_id(id)}", Survey.of)

    @strawberry.field
    async def survey_progress(self, info: Info, id: strawberry.ID) -> SurveyProgressResult:
        return await _ask(
            info,
            "GET",
            f"/v1/surveys/{_id(id)}/progress",
            lambda raw: SurveyProgress(
                survey_id=strawberry.ID(raw["survey_id"]),
                status=raw["status"],
                responses=raw["responses"],
            ),
        )

    @strawberry.field
    async def survey_results(self, info: Info, id: strawberry.ID) -> SurveyResultsResult:
        return await _ask(info, "GET", f"/v1/surveys/{_id(id)}/results", SurveyResults.of)

    @strawberry.field
    async def nomination_windows(self, info: Info) -> NominationWindowsResult:
        return await _ask(
            info,
            "GET",
            "/v1/nomination-windows",
            lambda raw: NominationWindows(items=[NominationWindow.of(w) for w in raw]),
        )

    @strawberry.field
    async def nomination_window(self, info: Info, id: strawberry.ID) -> NominationWindowResult:
        return await _ask(info, "GET", f"/v1/nomination-windows/{_id(id)}", NominationWindow.of)

    @strawberry.field
    async def nomination_counts(
        self, info: Info, window_id: strawberry.ID
    ) -> NominationCountsResult:
        return await _ask(
            info,
            "GET",
            f"/v1/nomination-windows/{_id(window_id)}/counts",
            lambda raw: NominationCounts(
                items=[
                    NominationCount(
                        employee_id=strawberry.ID(c["employee_id"]), nominations=c["nominations"]
                    )
                    for c in raw
                ]
            ),
        )

    @strawberry.field
    async def my_ballot(self, info: Info, window_id: strawberry.ID) -> BallotResult:
        return await _ask(info, "GET", f"/v1/nomination-windows/{_id(window_id)}/ballot", _ballot)

    @strawberry.field
    async def opinion_leaders(self, info: Info, window_id: strawberry.ID) -> OpinionLeadersResult:
        return await _ask(
            info, "GET", f"/v1/nomination-windows/{_id(window_id)}/leaders", OpinionLeaders.of
        )


@strawberry.type
class ProgrammeMutation:
    @strawberry.mutation(description="Publish a new policy version (admins over the company).")
    async def publish_policy(self, info: Info, input: PublishPolicyInput) -> PolicyResult:
        body = _without_nulls(
            {
                "title": input.title,
                "body_markdown": input.body_markdown,
                "grace_period_days": input.grace_period_days,
            }
        )
        return await _ask(info, "POST", "/v1/policies", PolicyVersion.of, body)

    @strawberry.mutation(description="Acknowledge the current policy version you read.")
    async def acknowledge_policy(self, info: Info, version: int) -> PolicyAcknowledgementResult:
        return await _ask(
            info,
            "POST",
            "/v1/policies/current/acknowledgements",
            PolicyAcknowledgement.of,
            {"version": version},
        )

    @strawberry.mutation
    async def create_training_module(
        self, info: Info, input: CreateTrainingModuleInput
    ) -> TrainingModuleResult:
        body = {
            "title": input.title,
            "required_for_roles": [Role(r).value for r in input.required_for_roles],
            "pass_score": input.pass_score,
        }
        return await _ask(info, "POST", "/v1/training/modules", TrainingModule.of, body)

    @strawberry.mutation(description="Record someone's training score (admins over their unit).")
    async def record_training_completion(
        self, info: Info, module_id: strawberry.ID, employee_id: strawberry.ID, score: int
    ) -> CertificationResult:
        return await _ask(
            info,
            "POST",
            f"/v1/training/modules/{_id(module_id)}/completions",
            Certification.of,
            {"employee_id": str(employee_id), "score": score},
        )

    @strawberry.mutation
    async def create_survey(self, info: Info, input: CreateSurveyInput) -> SurveyResult:
        body = _without_nulls(
            {
                "title": input.title,
                "questions": [{"text": q.text, "choices": q.choices} for q in input.questions],
                "unit_id": input.unit_id,
                "min_responses": input.min_responses,
            }
        )
        return await _ask(info, "POST", "/v1/surveys", Survey.of, body)

    @strawberry.mutation(description="Answer once, anonymously: one choice index per question.")
    async def answer_survey(
        self, info: Info, id: strawberry.ID, choices: list[int]
    ) -> SurveyAnswerResult:
        return await _ask(
            info,
            "POST",
            f"/v1/surveys/{_id(id)}/responses",
            lambda _: SurveyAnswered(survey_id=id),
            {"choices": choices},
        )

    @strawberry.mutation
    async def close_survey(self, info: Info, id: strawberry.ID) -> SurveyResult:
        return await _ask(info, "POST", f"/v1/surveys/{_id(id)}/close", Survey.of)

    @strawberry.mutation
    async def open_nomination_window(
        self, info: Info, input: OpenNominationWindowInput
    ) -> NominationWindowResult:
        body = _without_nulls(
            {
                "unit_id": input.unit_id,
                "opens_at": input.opens_at.isoformat() if input.opens_at else None,
                "closes_at": input.closes_at.isoformat(),
                "threshold": input.threshold,
                "max_nominees": input.max_nominees,
            }
        )
        return await _ask(info, "POST", "/v1/nomination-windows", NominationWindow.of, body)

    @strawberry.mutation(description="Name your nominees (an empty list withdraws).")
    async def cast_ballot(
        self, info: Info, window_id: strawberry.ID, nominees: list[strawberry.ID]
    ) -> BallotResult:
        return await _ask(
            info,
            "PUT",
            f"/v1/nomination-windows/{_id(window_id)}/ballot",
            _ballot,
            {"nominees": [str(n) for n in nominees]},
        )

    @strawberry.mutation
    async def close_nomination_window(
        self, info: Info, window_id: strawberry.ID
    ) -> NominationWindowResult:
        return await _ask(
            info, "POST", f"/v1/nomination-windows/{_id(window_id)}/close", NominationWindow.of
        )
