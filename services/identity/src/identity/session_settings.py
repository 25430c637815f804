"""Settings of sign-in and tokens (env vars `CHORUS_*`), mixed into `IdentitySettings`.

Production refuses weak password hashing, a missing key-encryption key and a plain-HTTP
OIDC issuer; tests lower the argon2 cost only by saying so (`CHORUS_ALLOW_WEAK_PASSWORD_HASHING`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

from chorus_kit.auth import MAX_TOKEN_LIFETIME
from chorus_kit.settings import Environment, ServiceSettings

# RFC 9106 §4, second recommended option (argon2id, 64 MiB, t=3, p=4): the floor.
ARGON2_MIN_TIME_COST = 3
ARGON2_MIN_MEMORY_KIB = 64 * 1024
ARGON2_MIN_PARALLELISM = 4

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SessionSettings(BaseSettings):
    """A mixin of `IdentitySettings` (same env prefix and rules as every service's settings)."""

    model_config = ServiceSettings.model_config
    environment: Environment = Environment.DEVELOPMENT

    # --- passwords (argon2id) -------------------------------------------------------------
    password_hash_time_cost: int = Field(default=ARGON2_MIN_TIME_COST, ge=1)
    password_hash_memory_kib: int = Field(default=ARGON2_MIN_MEMORY_KIB, ge=8)
    password_hash_parallelism: int = Field(default=ARGON2_MIN_PARALLELISM, ge=1)
    # Only tests set this, to go below the RFC 9106 floor; production refuses it.
    allow_weak_password_hashing: bool = False
    password_min_length: int = Field(default=12, ge=8, le=128)

    # --- tokens -----------------------------------------------------------------------------
    access_token_minutes: float = Field(default=15, gt=0)
    refresh_token_days: float = Field(default=30, gt=0)
    # A session (one refresh-token family) ends this long after sign-in, however often used.
    session_max_days: float = Field(default=90, gt=0)

    # --- signing keys -----------------------------------------------------------------------
    key_rotation_hours: float = Field(default=24, gt=0)
    # base64 of 32 bytes; seals the private signing keys stored in Mongo. Required in production.
    identity_key_encryption_key: SecretStr | None = None
    dev_key_encryption_key_file: Path = Path("var/dev/identity-key-encryption-key")

    # --- failed sign-ins --------------------------------------------------------------------
    signin_account_failures: int = Field(default=5, ge=1)
    signin_address_failures: int = Field(default=20, ge=1)
    signin_window_minutes: float = Field(default=15, gt=0)
    # CIDRs, comma-separated, of the proxies whose X-Forwarded-For is believed.
    trusted_proxies: str = ""
    session_sweep_seconds: float = Field(default=60, gt=0)

    # --- OIDC (organisations with SSO) ------------------------------------------------------
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_discovery_url: str | None = Field(
        default=None, description="defaults to <issuer>/.well-known/openid-configuration"
    )
    oidc_redirect_uri: str | None = None
    oidc_scopes: str = "openid email profile"
    oidc_login_minutes: float = Field(default=10, gt=0)

    @model_validator(mode="after")
    def _check_sign_in(self) -> SessionSettings:
        production = self.environment is Environment.PRODUCTION
        weak = (
            self.password_hash_time_cost < ARGON2_MIN_TIME_COST
            or self.password_hash_memory_kib < ARGON2_MIN_MEMORY_KIB
            or self.password_hash_parallelism < ARGON2_MIN_PARALLELISM
        )
        if production and self.allow_weak_password_hashing:
            raise ValueError("CHORUS_ALLOW_WEAK_PASSWORD_HASHING is refused in production")
        if weak and not self.allow_weak_password_hashing:
            raise ValueError(
                "argon2 parameters below RFC 9106 (t=3, m=64 MiB, p=4) need "
                "CHORUS_ALLOW_WEAK_PASSWORD_HASHING=true, which only tests may set"
            )
        if timedelta(minutes=self.access_token_minutes) > MAX_TOKEN_LIFETIME:
            raise ValueError("access tokens live at most 15 minutes")
        if self.identity_key_encryption_key is not None:
            self.key_encryption_key_bytes()  # fails early on a malformed key
        elif production:
            raise ValueError("CHORUS_IDENTITY_KEY_ENCRYPTION_KEY is required in production")
        self.trusted_proxy_networks()
        oidc = (self.oidc_issuer, self.oidc_client_id, self.oidc_redirect_uri)
        if any(oidc) and not all(oidc):
            raise ValueError(
                "OIDC needs CHORUS_OIDC_ISSUER, CHORUS_OIDC_CLIENT_ID and CHORUS_OIDC_REDIRECT_URI"
            )
        if production and self.oidc_issuer and not self.oidc_issuer.startswith("https://"):
            raise ValueError("the OIDC issuer must be https in production")
        return self

    def key_encryption_key_bytes(self) -> bytes | None:
        if self.identity_key_encryption_key is None:
            return None
        try:
            key = base64.b64decode(
                self.identity_key_encryption_key.get_secret_value(), validate=True
            )
        except (binascii.Error, ValueError):
            raise ValueError("CHORUS_IDENTITY_KEY_ENCRYPTION_KEY is not base64") from None
        if len(key) != 32:
            raise ValueError("CHORUS_IDENTITY_KEY_ENCRYPTION_KEY must be 32 bytes (base64)")
        return key

    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        try:
            return tuple(
                ipaddress.ip_network(cidr.strip(), strict=False)
                for cidr in self.trusted_proxies.split(",")
                if cidr.strip()
            )
        except ValueError:
            raise ValueError("CHORUS_TRUSTED_PROXIES must be comma-separated CIDRs") from None

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)
