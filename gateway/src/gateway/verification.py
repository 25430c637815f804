"""Token verification with a short memory: a token seen before is not verified again.

Checking an ES256 signature costs more than answering a small query, and a client sends
the same token with every request for up to 15 minutes. A remembered token is still
checked on every request for what can change: its expiry, and its session's revocation.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import jwt

from chorus_kit.auth import Principal, RevocationList, TokenVerifier
from chorus_kit.errors import Unauthorized

REMEMBERED_TOKENS = 10_000


class RememberingVerifier:
    def __init__(self, verifier: TokenVerifier, revocations: RevocationList) -> None:
        self._verifier = verifier
        self._revocations = revocations
        self._seen: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        seen = self._seen.get(token)
        if seen is not None:
            principal, expires_at = seen
            if time.time() >= expires_at:
                del self._seen[token]
                raise Unauthorized("token expired", code="token_expired")
            if self._revocations.is_revoked(principal.sub, principal.issued_at):
                raise Unauthorized("session revoked", code="session_revoked")
            self._seen.move_to_end(token)
            return principal
        principal = await self._verifier.verify(token)
        self._seen[token] = (principal, token_expiry(token))
        while len(self._seen) > REMEMBERED_TOKENS:
            self._seen.popitem(last=False)
        return principal


def token_expiry(token: str) -> float:
    """When a token verified before stops being valid (epoch seconds)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])
