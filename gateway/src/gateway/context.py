"""The per-request (or per-connection) context: who calls, with what token, and the
request's own loaders for every cross-service field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from chorus_kit.auth import Principal
from gateway.access.loaders import AccessLoaders
from gateway.clients.access import AccessClient
from gateway.clients.identity import IdentityClient
from gateway.identity.loaders import IdentityLoaders
from gateway.limits import CostBudgets
from gateway.live import LiveHub
from gateway.problems import unauthenticated
from gateway.settings import GatewaySettings
from gateway.verification import RememberingVerifier


@dataclass
class Services:
    """What lives as long as the process: clients, the verifier, budgets, the live hub."""

    settings: GatewaySettings
    verifier: RememberingVerifier
    identity: IdentityClient
    hub: LiveHub
    budgets: CostBudgets
    access: AccessClient


class Context:
    def __init__(
        self,
        services: Services,
        *,
        principal: Principal | None,
        token: str | None,
        client_address: str = "",
        websocket: WebSocket | None = None,
    ) -> None:
        self.services = services
        self.principal = principal
        self.token = token
        self.client_address = client_address
        self.websocket = websocket
        self.connection_params: dict[str, Any] | None = None  # set by graphql-transport-ws
        self.expires_at: datetime | None = None
        self.identity = IdentityLoaders(services.identity, token)
        self.access = AccessLoaders(services.access, token)

    def authenticated(self, principal: Principal, token: str, *, expires_at: datetime) -> None:
        """A WebSocket connection authenticates after it opened (connection_init)."""
        self.principal = principal
        self.token = token
        self.expires_at = expires_at
        self.fresh_loaders()

    def fresh_loaders(self) -> None:
        """New loaders: a subscription's events must not see an earlier event's answers."""
        self.identity = IdentityLoaders(self.services.identity, self.token)
        self.access = AccessLoaders(self.services.access, self.token)

    @property
    def viewer(self) -> Principal:
        if self.principal is None:
            raise unauthenticated("a bearer token is required", code="missing_token")
        return self.principal

    @property
    def bearer(self) -> str:
        self.viewer  # noqa: B018 - refuses anonymous callers before any service call
        return self.token or ""

    @property
    def caller_key(self) -> str:
        """Whose budget a query spends: the person, else the address."""
        return self.principal.sub if self.principal else f"anonymous:{self.client_address}"


Info = StrawberryInfo[Context, None]
