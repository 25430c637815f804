"""The gateway's settings (env vars `CHORUS_*`), validated once at start."""

from __future__ import annotations

from pydantic import Field, model_validator

from chorus_kit.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    service_name: str = "gateway"
    http_port: int = 8100
    identity_url: str = "http://127.0.0.1:8101"
    access_url: str = "http://127.0.0.1:8104"
    # A backend slower than this gives a typed `ServiceUnavailable` for its part of the
    # answer, never a hung request.
    backend_timeout_seconds: float = Field(default=2.0, gt=0)
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    # Comma-separated origins of the web front ends (CORS and WebSocket handshakes).
    cors_origins: str = ""
    # --- limits -------------------------------------------------------------------------
    max_depth: int = Field(default=10, ge=2)
    max_tokens: int = Field(default=2000, ge=50)
    max_aliases: int = Field(default=20, ge=1)
    max_query_bytes: int = Field(default=20_000, ge=100)
    max_query_cost: int = Field(default=5_000, ge=1)
    # Per user and replica, a token bucket of query cost: bursts up to the capacity,
    # refilled at the rate.
    cost_budget_capacity: int = Field(default=20_000, ge=1)
    cost_budget_per_second: float = Field(default=2_000, gt=0)
    persisted_queries_max: int = Field(default=2_000, ge=1)
    # Development conveniences; production turns them off (and refuses them on).
    graphiql: bool | None = None
    introspection: bool | None = None

    @model_validator(mode="after")
    def _production_defaults(self) -> GatewaySettings:
        for name in ("graphiql", "introspection"):
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, not self.is_production)
            elif value and self.is_production:
                raise ValueError(f"CHORUS_{name.upper()} is refused in production")
        return self

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def graphiql_enabled(self) -> bool:
        return bool(self.graphiql)

    @property
    def introspection_enabled(self) -> bool:
        return bool(self.introspection)
