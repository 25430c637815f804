"""Surveys, participation markers and answer counts in MongoDB.

Three collections, on purpose with nothing to join them:
- `surveys`: the questions (and the audit entry of their creation, in the outbox);
- `survey_participation`: one marker per (survey, employee), `_id = "<survey>:<employee>"`,
  no timestamp, no answer: the unique `_id` makes "at most one answer" hold under
  concurrent submits (the second insert fails);
- `survey_tallies`: one document per survey of counts per question and choice. There is no
  document per answer, so no id, position or time of an answer exists to match against a
  marker; both writes run with tracing suppressed, so no span records them either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.instrumentation.utils import suppress_instrumentation
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chorus_kit.errors import Conflict, NotFound
from chorus_kit.mongo import DOCUMENT_LOCKS, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields
from identity.domain.survey import AnonymousAnswer, Question, Survey


@contextmanager
def _untraced() -> Iterator[None]:
    # The database spans of an answer would share the request's trace: none are made.
    with suppress_instrumentation():
        yield


class SurveyStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["surveys"]
        self.participation: AsyncCollection[dict[str, Any]] = database["survey_participation"]
        self.tallies: AsyncCollection[dict[str, Any]] = database["survey_tallies"]

    async def prepare(self) -> None:
        await ensure_outbox_index(self.collection)
        await self.participation.create_index([("survey_id", ASCENDING)], name="by_survey")

    async def add(self, survey: Survey) -> None:
        await self.collection.insert_one(
            {**_state(survey), **new_document_outbox(survey.pending_events)}
        )

    async def get(self, survey_id: str) -> Survey:
        document = await self.collection.find_one({"_id": survey_id}, {"outbox": 0})
        if document is None:
            raise NotFound(f"no survey {survey_id}", code="survey_not_found")
        return _survey(document)

    async def all(self) -> list[Survey]:
        cursor = self.collection.find({}, {"outbox": 0}).sort("created_at", ASCENDING)
        return [_survey(d) for d in await cursor.to_list()]

    async def save(self, survey: Survey, *, expected_sequence: int) -> None:
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), survey.id):
            result = await self.collection.update_one(
                {"_id": survey.id, "sequence": expected_sequence},
                {"$set": {**_state(survey), **outbox_fields(survey.pending_events)}},
            )
        if result.matched_count == 0:
            raise Conflict("the survey changed meanwhile; retry", code="concurrent_change")

    # --- participation and answers ------------------------------------------------------
    async def mark_participation(self, survey_id: str, employee_id: str) -> None:
        """Record that the employee answered; Conflict if they had already."""
        try:
            with _untraced():
                await self.participation.insert_one(
                    {
                        "_id": _marker_id(survey_id, employee_id),
                        "survey_id": survey_id,
                        "employee_id": employee_id,
                    }
                )
        except DuplicateKeyError:
            raise Conflict("you have answered this survey", code="already_answered") from None

    async def unmark_participation(self, survey_id: str, employee_id: str) -> None:
        with _untraced():
            await self.participation.delete_one({"_id": _marker_id(survey_id, employee_id)})

    async def has_participated(self, survey_id: str, employee_id: str) -> bool:
        found = await self.participation.find_one(
            {"_id": _marker_id(survey_id, employee_id)}, {"_id": 1}
        )
        return found is not None

    async def participants(self, survey_id: str) -> int:
        return await self.participation.count_documents({"survey_id": survey_id})

    async def add_answer(self, answer: AnonymousAnswer) -> None:
        """Count the answer in: one increment per question's chosen choice, nothing else."""
        increments = {f"counts.q{q}.c{c}": 1 for q, c in enumerate(answer.choices)}
        with _untraced():
            # Serialised in-process: FerretDB v1 loses concurrent updates of one document.
            async with DOCUMENT_LOCKS.hold(namespace_of(self.tallies), answer.survey_id):
                await self.tallies.update_one(
                    {"_id": answer.survey_id},
                    {"$inc": {"responses": 1, **increments}},
                    upsert=True,
                )

    async def tally(self, survey_id: str) -> tuple[int, dict[tuple[int, int], int]]:
        """(answers counted, count per (question index, choice index))."""
        document = await self.tallies.find_one({"_id": survey_id})
        if document is None:
            return 0, {}
        counts = {
            (int(q.removeprefix("q")), int(c.removeprefix("c"))): int(n)
            for q, choices in (document.get("counts") or {}).items()
            for c, n in choices.items()
        }
        return int(document.get("responses", 0)), counts


def _marker_id(survey_id: str, employee_id: str) -> str:
    return f"{survey_id}:{employee_id}"


def _state(survey: Survey) -> dict[str, Any]:
    return {
        "_id": survey.id,
        "title": survey.title,
        "unit_id": survey.unit_id,
        "questions": [{"text": q.text, "choices": list(q.choices)} for q in survey.questions],
        "min_responses": survey.min_responses,
        "created_by": survey.created_by,
        "created_at": survey.created_at,
        "status": survey.status,
        "closed_at": survey.closed_at,
    }


def _survey(document: dict[str, Any]) -> Survey:
    return Survey(
        id=document["_id"],
        title=document["title"],
        unit_id=document["unit_id"],
        questions=tuple(
            Question(text=q["text"], choices=tuple(q["choices"])) for q in document["questions"]
        ),
        min_responses=int(document["min_responses"]),
        created_by=document["created_by"],
        created_at=document["created_at"],
        status=document.get("status", "open"),
        closed_at=document.get("closed_at"),
        sequence=int(document.get("sequence", 0)),
    )
