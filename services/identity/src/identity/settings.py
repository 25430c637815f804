"""Identity's settings (env vars `CHORUS_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import model_validator

from chorus_kit.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    service_name: str = "identity"
    http_port: int = 8101
    root_unit: str = "company"
    root_unit_name: str = "Company"
    # How often the scheduler looks for offboardings whose time has come (worst-case lateness).
    scheduler_interval_seconds: float = 1.0
    # Production: a PEM file the operator provides. Development: created on first use.
    signing_key_file: Path | None = None
    dev_signing_key_file: Path = Path("var/dev/jwt-signing-key.pem")

    @model_validator(mode="after")
    def _production_key(self) -> IdentitySettings:
        if self.is_production and self.signing_key_file is None:
            raise ValueError("CHORUS_SIGNING_KEY_FILE is required in production")
        return self
