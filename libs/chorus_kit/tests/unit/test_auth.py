"""Token verification: the claim shape, lifetime, keys, revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from chorus_kit.auth import (
    Principal,
    RevocationList,
    StaticKeys,
    TokenVerifier,
    load_or_create_dev_key,
)
from chorus_kit.errors import Unauthorized
from chorus_kit.events.identity import Role, RoleAssignment

ADMIN = [RoleAssignment(role=Role.ADMIN, unit="company")]


@pytest.fixture
def key(tmp_path: Path):
    return load_or_create_dev_key(tmp_path / "k.pem")


async def test_valid_token_gives_the_principal(key) -> None:
    verifier = TokenVerifier(StaticKeys([key.public_jwk()]), RevocationList())
    principal = await verifier.verify(key.mint("alice", ADMIN))
    assert principal.sub == "alice"
    assert principal.holds(Role.ADMIN, over=["dept-7", "company"])
    assert not principal.holds(Role.ADMIN, over=["other-company"])
    assert not principal.holds(Role.AUDITOR, over=["company"])


def test_dev_key_is_stable_across_loads(tmp_path: Path) -> None:
    first = load_or_create_dev_key(tmp_path / "k.pem")
    second = load_or_create_dev_key(tmp_path / "k.pem")
    assert first.kid == second.kid
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0


def test_tokens_longer_than_15_minutes_are_never_minted(key) -> None:
    with pytest.raises(ValueError):
        key.mint("alice", ADMIN, lifetime=timedelta(minutes=16))


async def test_a_forged_long_lived_token_is_refused(key) -> None:
    now = datetime.now(UTC)
    claims = {
        "iss": "chorus-identity",
        "aud": "chorus",
        "sub": "alice",
        "roles": [],
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=2)).timestamp()),
        "jti": "x",
    }
    token = jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})
    verifier = TokenVerifier(StaticKeys([key.public_jwk()]), RevocationList())
    with pytest.raises(Unauthorized):
        await verifier.verify(token)


async def test_unknown_key_and_tampering_are_refused(key, tmp_path: Path) -> None:
    other = load_or_create_dev_key(tmp_path / "other.pem")
    verifier = TokenVerifier(StaticKeys([key.public_jwk()]), RevocationList())
    with pytest.raises(Unauthorized) as caught:
        await verifier.verify(other.mint("mallory", ADMIN))
    assert caught.value.code == "unknown_key"
    token = key.mint("alice", [RoleAssignment(role=Role.EMPLOYEE, unit="company")])
    head, body, sig = token.split(".")
    forged = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(body).replace(b"employee", b"admin\x22\x20")
    ).decode()
    with pytest.raises(Unauthorized):
        await verifier.verify(f"{head}.{forged}.{sig}")


async def test_revoked_sessions_are_refused(key) -> None:
    revocations = RevocationList()
    verifier = TokenVerifier(StaticKeys([key.public_jwk()]), revocations)
    token = key.mint("bob", ADMIN)
    principal: Principal = await verifier.verify(token)
    revocations.revoke("bob", issued_before=principal.issued_at + timedelta(seconds=1))
    with pytest.raises(Unauthorized) as caught:
        await verifier.verify(token)
    assert caught.value.code == "session_revoked"
