"""Settings of revocation connectors (env vars `CHORUS_*`), mixed into `AccessSettings`."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from access.domain.connectors import RetryPolicy
from chorus_kit.settings import Environment


class ConnectorSettings(BaseSettings):
    environment: Environment = Environment.DEVELOPMENT
    # Back-off between attempts: first wait, doubling up to the cap (with jitter).
    connector_first_retry_seconds: float = Field(default=2.0, gt=0)
    connector_max_retry_seconds: float = Field(default=300.0, gt=0)
    # A call fails (and alerts) after this many attempts, or once pending this long.
    connector_max_attempts: int = Field(default=12, ge=1, le=1000)
    connector_max_age_seconds: float = Field(default=86_400.0, gt=0)
    connector_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # How long one attempt is leased to one replica; longer than the timeout, so a live
    # holder is never overtaken, short enough that a dead one's call is soon taken over.
    connector_lease_seconds: float = Field(default=30.0, gt=0)
    # The worker looks for due calls at least this often (a new call wakes it at once).
    connector_tick_seconds: float = Field(default=1.0, gt=0)
    # Calls in flight at once per replica.
    connector_concurrency: int = Field(default=8, ge=1, le=100)
    # Plain http is refused in production (the signature authenticates, it does not hide).
    connector_require_https: bool | None = None

    @model_validator(mode="after")
    def _lease_outlives_attempt(self) -> ConnectorSettings:
        if self.connector_lease_seconds <= self.connector_timeout_seconds:
            raise ValueError("CHORUS_CONNECTOR_LEASE_SECONDS must exceed the timeout")
        if self.connector_require_https is None:
            object.__setattr__(
                self,
                "connector_require_https",
                self.environment is Environment.PRODUCTION,
            )
        return self

    def connector_retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            first_delay=timedelta(seconds=self.connector_first_retry_seconds),
            max_delay=timedelta(seconds=self.connector_max_retry_seconds),
            max_attempts=self.connector_max_attempts,
            max_age=timedelta(seconds=self.connector_max_age_seconds),
        )
