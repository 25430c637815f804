"""The signing-key ring: rotation on time, old tokens still verify, another service's JWKS
cache learns new kids, replicas agree on one key per period, private keys sealed at rest."""

from __future__ import annotations

import base64
import secrets

import httpx
import jwt
import pytest

from chorus_kit.events.identity import Role
from services.identity.tests.support.sessions import WEAK_HASHING, set_password, sign_in
from tests.support.api import bearer, hire
from tests.support.polling import eventually

KEK = base64.b64encode(secrets.token_bytes(32)).decode()
FAST_ROTATION = {
    **WEAK_HASHING,
    "CHORUS_KEY_ROTATION_HOURS": "0.001",  # a new key every 3.6 s
    "CHORUS_IDENTITY_KEY_ENCRYPTION_KEY": KEK,
    "CHORUS_SIGNIN_ACCOUNT_FAILURES": "100",
}


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def _published(identity) -> set[str]:
    return {k["kid"] for k in httpx.get(f"{identity.url}/.well-known/jwks.json").json()["keys"]}


async def _call(url: str, token: str) -> int:
    return httpx.get(url, headers=bearer(token), timeout=10).status_code


async def test_after_rotation_old_tokens_verify_and_another_service_learns_the_new_key(
    ns,
) -> None:
    identity = ns.service("identity", **FAST_ROTATION)
    identity.start()
    access = ns.service("access")  # verifies identity's tokens through its JwksCache
    access.start()
    admin = ns.token(Role.ADMIN, "company")
    employee = hire(identity.url, admin, 1, roles=[{"role": "admin", "unit": "company"}]).json()
    set_password(identity.url, admin, employee["id"])

    first = sign_in(identity.url, "person1@example.com").json()["access_token"]
    at_access = f"{access.url}/v1/employment/{employee['id']}"
    assert await _call(at_access, first) != 401  # access fetched the JWKS for this kid
    known_then = _published(identity)

    async def token_with_a_new_key() -> str:
        return sign_in(identity.url, "person1@example.com").json()["access_token"]

    later = await eventually(
        token_with_a_new_key,
        lambda token: _kid(token) not in known_then,
        timeout=30,
        what="a token signed with a key published after access's fetch",
    )
    assert _kid(later) != _kid(first)

    at_identity = f"{identity.url}/v1/employees/{employee['id']}"
    assert await _call(at_identity, first) == 200  # the retired key still verifies
    assert await _call(at_identity, later) == 200
    assert _kid(first) in _published(identity)
    # access refetches on the unknown kid (at most every 5 s), then accepts it
    await eventually(
        lambda: _call(at_access, later),
        lambda status: status != 401,
        timeout=15,
        what="access accepting the new kid",
    )
    assert await _call(at_access, first) != 401


async def test_replicas_agree_on_one_key_per_period_sealed_at_rest(ns, mongo) -> None:
    one = ns.service("identity", instance="one", **FAST_ROTATION)
    two = ns.service("identity", instance="two", **FAST_ROTATION)
    one.start()
    two.start()
    admin = ns.token(Role.ADMIN, "company")
    employee = hire(one.url, admin, 2).json()
    set_password(one.url, admin, employee["id"])
    keys = mongo[ns.database("identity")]["signing_keys"]

    # both replicas rotate several times, each racing the other for every period
    await eventually(
        lambda: keys.count_documents({}), lambda n: n >= 5, timeout=40, what="rotations"
    )
    documents = await keys.find({}).to_list()
    starts = [d["active_from"] for d in documents]
    assert len(starts) == len(set(starts))  # never two keys for one period

    # a token signed by one replica verifies at the other
    for signer, verifier in ((one, two), (two, one)):
        token = sign_in(signer.url, "person2@example.com").json()["access_token"]
        await eventually(
            lambda v=verifier, t=token: _call(f"{v.url}/v1/employees/{employee['id']}", t),
            lambda status: status == 200,
            timeout=10,
            what="the other replica verifying the token",
        )

    for document in documents:  # private keys never in the clear
        sealed = bytes(document["sealed_private_key"])
        assert b"PRIVATE KEY" not in sealed and len(document["nonce"]) == 12
        assert "d" not in document["public_jwk"]


def test_a_replica_with_another_key_encryption_key_refuses_to_start(ns) -> None:
    first = ns.service("identity", instance="first", **FAST_ROTATION)
    first.start()
    other_kek = base64.b64encode(secrets.token_bytes(32)).decode()
    wrong = ns.service(
        "identity",
        instance="wrong",
        **{**FAST_ROTATION, "CHORUS_IDENTITY_KEY_ENCRYPTION_KEY": other_kek},
    )
    with pytest.raises(Exception, match="exited at start"):
        wrong.start(wait=40)
    assert "cannot be unsealed" in wrong.process.log_file.read_text()


def test_production_refuses_to_start_without_a_key_encryption_key(ns) -> None:
    production = ns.service("identity", CHORUS_ENVIRONMENT="production")
    with pytest.raises(Exception, match="exited at start"):
        production.start(wait=30)
    assert "CHORUS_IDENTITY_KEY_ENCRYPTION_KEY" in production.process.log_file.read_text()
