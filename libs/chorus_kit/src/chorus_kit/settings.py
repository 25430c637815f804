"""Settings every Chorus service shares; each service extends `ServiceSettings` once."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Validated at start; a bad value stops the process with a clear message."""

    # A wrong setting is reported by name, never by value (it may be a secret).
    model_config = SettingsConfigDict(
        env_prefix="CHORUS_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    service_name: str
    environment: Environment = Environment.DEVELOPMENT
    kafka_bootstrap: str = "127.0.0.1:9092"
    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    database: str = Field(default="", description="defaults to chorus_<service>")
    topic_prefix: str = Field(default="", description="isolates test runs on a shared broker")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    jwks_url: str = "http://127.0.0.1:8101/.well-known/jwks.json"
    log_level: str = "INFO"
    # How often the relay sweeps for events a crashed writer left unpublished (a writer
    # hands its own events to the relay at once).
    outbox_sweep_seconds: float = 5.0
    # Fault injection points for the fault tests (refused in production).
    faults: str = ""

    @model_validator(mode="after")
    def _check(self) -> ServiceSettings:
        if self.environment is Environment.PRODUCTION and self.faults:
            raise ValueError("CHORUS_FAULTS must be empty in production")
        if not self.database:
            object.__setattr__(self, "database", f"chorus_{self.service_name}")
        return self

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION
