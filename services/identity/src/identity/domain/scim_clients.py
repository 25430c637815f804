"""Provisioning clients: the HR systems and identity providers allowed to use SCIM.

An admin creates a client for an org unit and receives its bearer token once. Only the
token's SHA-256 is stored (the token is 256 random bits, so a fast hash is enough: there is
nothing to guess). The token names its client (`chorus_scim_<client id>.<secret>`), so
checking it is one lookup by id and a constant-time comparison. A request with the token
acts as an admin of the client's unit and nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from chorus_kit.auth import Principal
from chorus_kit.errors import Conflict
from chorus_kit.events import Event
from chorus_kit.events.identity import Role, RoleAssignment

TOKEN_PREFIX = "chorus_scim_"
PRINCIPAL_PREFIX = "scim-client:"
_TOKEN = re.compile(r"^chorus_scim_([0-9a-f]{32})\.[A-Za-z0-9_-]{43}$")


class CreateProvisioningClient(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=100, description="e.g. 'Entra ID (EU tenant)'")
    unit_id: str = Field(
        min_length=1, max_length=100, description="the unit (and subtree) it provisions"
    )


@dataclass(frozen=True)
class ProvisioningClient:
    id: str
    name: str
    unit_id: str
    token_hash: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=())

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def principal(self) -> Principal:
        """Who a request with this client's token is: an admin of the client's unit."""
        return Principal(
            sub=f"{PRINCIPAL_PREFIX}{self.id}",
            roles=(RoleAssignment(role=Role.ADMIN, unit=self.unit_id),),
            issued_at=datetime.now(UTC),
            token_id=self.id,
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_client(command: CreateProvisioningClient, *, by: str) -> tuple[ProvisioningClient, str]:
    """A new client and its token (returned this once, never stored)."""
    client_id = uuid.uuid4().hex
    token = f"{TOKEN_PREFIX}{client_id}.{secrets.token_urlsafe(32)}"
    client = ProvisioningClient(
        id=client_id,
        name=command.name,
        unit_id=command.unit_id,
        token_hash=hash_token(token),
        created_at=datetime.now(UTC),
        created_by=by,
    )
    return client, token


def client_id_of(token: str) -> str | None:
    """The client a well-formed token names (None for anything else, e.g. a JWT)."""
    match = _TOKEN.match(token)
    return match.group(1) if match else None


def token_matches(client: ProvisioningClient, token: str) -> bool:
    return hmac.compare_digest(hash_token(token), client.token_hash)


def revoke(client: ProvisioningClient, *, by: str) -> ProvisioningClient:
    if not client.is_active:
        raise Conflict("the provisioning client is already revoked", code="client_revoked")
    return replace(client, revoked_at=datetime.now(UTC), revoked_by=by, pending_events=())
