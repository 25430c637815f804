"""Token plumbing: the claim shape, JWKS-based verification, revocations, dev signing keys.

Access tokens are ES256 JWTs of at most 15 minutes with claims `sub`, `roles:
[{role, unit}]`, `iat`, `exp`, `jti`, `iss`, `aud`. Every service verifies them itself
against identity's JWKS (keys cached by `kid`, refetched when an unknown `kid` shows up)
and refuses tokens of people whose sessions were revoked.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, ValidationError

from chorus_kit.errors import Unauthorized
from chorus_kit.events.identity import Role, RoleAssignment

ISSUER = "chorus-identity"
AUDIENCE = "chorus"
ALGORITHM = "ES256"
MAX_TOKEN_LIFETIME = timedelta(minutes=15)


class Principal(BaseModel):
    """Who is calling, as the verified token says."""

    model_config = ConfigDict(frozen=True)
    sub: str
    roles: tuple[RoleAssignment, ...]
    issued_at: datetime
    token_id: str

    def holds(self, role: Role, *, over: Iterable[str]) -> bool:
        """True if a grant of `role` covers one of `over` (a unit and its ancestors)."""
        units = set(over)
        return any(r.role is role and r.unit in units for r in self.roles)

    def holds_anywhere(self, role: Role) -> bool:
        return any(r.role is role for r in self.roles)


class RevocationList:
    """Sessions revoked per person; fed from `chorus.identity.session.v1` (identity issue)."""

    def __init__(self) -> None:
        self._not_before: dict[str, datetime] = {}
        # False while a RevocationReader is still reading the topic from the start.
        self.caught_up = True

    def revoke(self, sub: str, *, issued_before: datetime) -> None:
        current = self._not_before.get(sub)
        if current is None or issued_before > current:
            self._not_before[sub] = issued_before

    def is_revoked(self, sub: str, issued_at: datetime) -> bool:
        cut = self._not_before.get(sub)
        return cut is not None and issued_at < cut


class KeySource(Protocol):
    async def key(self, kid: str) -> jwt.PyJWK: ...


class StaticKeys:
    """Keys known in-process (identity verifying the tokens it signs itself)."""

    def __init__(self, jwks: list[dict[str, Any]]) -> None:
        self._keys = {k["kid"]: jwt.PyJWK(k) for k in jwks}

    async def key(self, kid: str) -> jwt.PyJWK:
        if kid not in self._keys:
            raise Unauthorized("token signed with an unknown key", code="unknown_key")
        return self._keys[kid]


class JwksCache:
    """Public keys by `kid`, fetched over HTTP; an unknown `kid` triggers a rate-limited refetch."""

    def __init__(self, url: str, *, min_refetch_seconds: float = 5.0) -> None:
        self._url = url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._min_refetch = min_refetch_seconds
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_refetch:
                await self._fetch()
        if kid not in self._keys:
            raise Unauthorized("token signed with an unknown key", code="unknown_key")
        return self._keys[kid]

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(self._url)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise Unauthorized("token keys unavailable", code="jwks_unavailable") from exc
        keys = jwt.PyJWKSet.from_dict(response.json())
        self._keys = {k.key_id: k for k in keys.keys if k.key_id}


class TokenVerifier:
    def __init__(self, jwks: KeySource, revocations: RevocationList) -> None:
        self._jwks = jwks
        self.revocations = revocations

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("malformed token", code="invalid_token") from exc
        if header.get("alg") != ALGORITHM or not header.get("kid"):
            raise Unauthorized("token algorithm or key id not accepted", code="invalid_token")
        key = await self._jwks.key(str(header["kid"]))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token", code="invalid_token") from exc
        if claims["exp"] - claims["iat"] > MAX_TOKEN_LIFETIME.total_seconds():
            raise Unauthorized("token lifetime exceeds 15 minutes", code="invalid_token")
        try:
            principal = Principal(
                sub=claims["sub"],
                roles=tuple(RoleAssignment.model_validate(r) for r in claims.get("roles", [])),
                issued_at=datetime.fromtimestamp(claims["iat"], UTC),
                token_id=claims["jti"],
            )
        except ValidationError as exc:
            raise Unauthorized("token claims malformed", code="invalid_token") from exc
        if self.revocations.is_revoked(principal.sub, principal.issued_at):
            raise Unauthorized("session revoked", code="session_revoked")
        return principal


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(
            jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key())
        )
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    def mint(
        self,
        sub: str,
        roles: Iterable[RoleAssignment],
        *,
        lifetime: timedelta = MAX_TOKEN_LIFETIME,
    ) -> str:
        if lifetime > MAX_TOKEN_LIFETIME:
            raise ValueError("access tokens live at most 15 minutes")
        now = datetime.now(UTC)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "roles": [r.model_dump(mode="json") for r in roles],
            "iat": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})


def load_or_create_dev_key(path: Path) -> SigningKey:
    """The local development signing key (a file outside git). Never used in production."""
    if path.exists():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path} is not an EC private key")
        private_key = loaded
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        private_key = ec.generate_private_key(ec.SECP256R1())
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pem)
        tmp.chmod(0o600)
        tmp.replace(path)  # atomic: two processes starting at once never read half a key
    public = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = "dev-" + uuid.uuid5(uuid.NAMESPACE_OID, public.hex()).hex[:12]
    return SigningKey(kid=kid, private_key=private_key)
