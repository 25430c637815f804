"""Settings of the credential vault (env vars `CHORUS_*`), mixed into `AccessSettings`.

Production refuses to start without a master key; elsewhere a random one is kept under var/.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

from chorus_kit.settings import Environment


class VaultSettings(BaseSettings):
    environment: Environment = Environment.DEVELOPMENT
    # `CHORUS_ACCESS_VAULT_MASTER_KEY`: base64 of 32 bytes; wraps every secret's data key.
    access_vault_master_key: SecretStr | None = None
    dev_vault_master_key_file: Path = Path("var/dev/access-vault-master-key")
    # How often leases past their time are ended and secrets past their maximum age flagged
    # (the worst-case lateness of both, plus one write).
    vault_tick_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _production_master_key(self) -> VaultSettings:
        if self.environment is Environment.PRODUCTION and self.access_vault_master_key is None:
            raise ValueError("CHORUS_ACCESS_VAULT_MASTER_KEY is required in production")
        return self
