"""Training modules and completions (pure rules).

A module is required for some roles; everybody counts as holding `employee`, so a module
required for `employee` is required of all staff. A completion carries a score; a module
is passed once a recorded score reaches its pass score, and a later, lower score does not
take that away. Completions are recorded by an admin over the person's unit (or by an
LMS integration holding such a role), never by the person themselves: a self-reported
score would certify nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from chorus_kit.events import Event
from chorus_kit.events.identity import Role


class CreateTrainingModule(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: str = Field(min_length=1, max_length=200)
    required_for_roles: list[Role] = Field(
        min_length=1, max_length=5, description="roles that must pass it (`employee` = all staff)"
    )
    pass_score: int = Field(ge=0, le=100)


class RecordCompletion(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    employee_id: str = Field(min_length=1, max_length=100)
    score: int = Field(ge=0, le=100)


@dataclass(frozen=True)
class TrainingModule:
    id: str
    title: str
    required_for: frozenset[Role]
    pass_score: int
    created_by: str
    created_at: datetime
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())

    def passes(self, score: int) -> bool:
        return score >= self.pass_score


@dataclass(frozen=True)
class Completion:
    module_id: str
    best_score: int
    passed: bool
    recorded_at: datetime


def create_module(command: CreateTrainingModule, *, by: str, now: datetime) -> TrainingModule:
    return TrainingModule(
        id=str(uuid.uuid4()),
        title=command.title,
        required_for=frozenset(command.required_for_roles),
        pass_score=command.pass_score,
        created_by=by,
        created_at=now,
    )


def required_modules(
    modules: Iterable[TrainingModule], roles: Iterable[Role]
) -> list[TrainingModule]:
    """The modules someone holding `roles` must pass (everybody holds `employee`)."""
    held = {*roles, Role.EMPLOYEE}
    return sorted((m for m in modules if m.required_for & held), key=lambda m: m.id)


def record_score(
    previous: Completion | None, module: TrainingModule, *, score: int, now: datetime
) -> Completion:
    best = max(score, previous.best_score) if previous else score
    passed = module.passes(score) or (previous is not None and previous.passed)
    return Completion(module_id=module.id, best_score=best, passed=passed, recorded_at=now)


def missing_modules(
    modules: Sequence[TrainingModule],
    roles: Iterable[Role],
    completions: Mapping[str, Completion],
) -> list[str]:
    """Ids of the required modules not passed yet."""
    return [
        m.id
        for m in required_modules(modules, roles)
        if not (m.id in completions and completions[m.id].passed)
    ]
