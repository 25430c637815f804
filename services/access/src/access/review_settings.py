"""Settings of access reviews (env vars `CHORUS_*`), mixed into `AccessSettings`."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings


class ReviewSettings(BaseSettings):
    # How often every replica's scheduler looks for reminders and deadlines: the worst-case
    # lateness of either is this plus the writes of one tick.
    review_tick_seconds: float = Field(default=5.0, gt=0)
    # Reminders at these fractions of a campaign's time (JSON, e.g. `[0.5, 0.9]`).
    review_reminder_fractions: tuple[float, ...] = (0.5, 0.9)
    # A closing (or reminder) claimed by a replica that then died is taken over after this.
    review_close_lease_seconds: float = Field(default=120.0, gt=0)
    # A start or a decision left half-done by a dead process is finished after this.
    review_stale_seconds: float = Field(default=30.0, gt=0)

    @field_validator("review_reminder_fractions")
    @classmethod
    def _fractions_of_the_time(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < f < 1 for f in value):
            raise ValueError("reminder fractions lie strictly between 0 and 1")
        return tuple(sorted(set(value)))
