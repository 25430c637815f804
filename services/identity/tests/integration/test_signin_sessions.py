"""Sign-in, refresh rotation, reuse detection and sign-out against the real service process."""

from __future__ import annotations

import re

import httpx
import jwt
import pytest

from chorus_kit.events.identity import Role
from services.identity.tests.support.sessions import (
    PASSWORD,
    WEAK_HASHING,
    refresh,
    set_password,
    sign_in,
    sign_out,
)
from tests.support.api import bearer, hire
from tests.support.polling import eventually


@pytest.fixture
def identity(ns):
    service = ns.service("identity", **WEAK_HASHING)
    service.start()
    return service


def _hire_with_password(ns, identity, n: int, **fields) -> dict:
    admin = ns.token(Role.ADMIN, "company")
    employee = hire(identity.url, admin, n, **fields).json()
    assert set_password(identity.url, admin, employee["id"]).status_code == 204
    return employee


def test_sign_in_gives_tokens_that_work_on_an_authenticated_endpoint(ns, identity) -> None:
    employee = _hire_with_password(ns, identity, 1, roles=[{"role": "comms", "unit": "company"}])
    response = sign_in(identity.url, "Person1@Example.com", PASSWORD)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] <= 900
    assert body["person_id"] == employee["id"] and len(body["refresh_token"]) >= 43

    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == employee["id"]
    assert claims["roles"] == [{"role": "comms", "unit": "company"}]
    assert claims["iss"] == "chorus-identity" and claims["aud"] == "chorus"
    assert claims["exp"] - claims["iat"] <= 900 and claims["jti"]
    kid = jwt.get_unverified_header(body["access_token"])["kid"]
    published = httpx.get(f"{identity.url}/.well-known/jwks.json").json()["keys"]
    assert kid in {k["kid"] for k in published} and kid != ns.signing_key().kid
    assert all("d" not in k for k in published)  # never a private half

    me = httpx.get(
        f"{identity.url}/v1/employees/{employee['id']}", headers=bearer(body["access_token"])
    )
    assert me.status_code == 200 and me.json()["email"] == "person1@example.com"


def test_unknown_email_and_wrong_password_answer_the_same(ns, identity) -> None:
    _hire_with_password(ns, identity, 2)
    wrong = sign_in(identity.url, "person2@example.com", "not the password at all")
    unknown = sign_in(identity.url, "nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"
    assert "not the password" not in wrong.text


def test_unknown_emails_cost_a_full_password_check_like_wrong_passwords(ns) -> None:
    """The same argon2 work either way (a dummy hash), so timing tells nothing about accounts.
    Counted, not timed: each sign-in attempt runs exactly one verification."""
    identity = ns.service(
        "identity", CHORUS_SIGNIN_ACCOUNT_FAILURES="100", CHORUS_SIGNIN_ADDRESS_FAILURES="100"
    )
    identity.start()
    _hire_with_password(ns, identity, 3)

    def checks() -> dict[str, float]:
        metrics = httpx.get(f"{identity.url}/metrics").text
        found = re.findall(
            r'chorus_identity_password_checks_total\{against="(\w+)"\} (\S+)', metrics
        )
        return {against: float(value) for against, value in found}

    before = checks()
    for _ in range(3):
        assert (
            sign_in(identity.url, "person3@example.com", "wrong password, again").status_code == 401
        )
    for _ in range(3):
        assert (
            sign_in(identity.url, "nobody@example.com", "wrong password, again").status_code == 401
        )
    after = checks()
    assert after.get("stored_hash", 0) - before.get("stored_hash", 0) == 3
    assert after.get("dummy_hash", 0) - before.get("dummy_hash", 0) == 3


def test_refresh_rotates_and_a_reused_token_revokes_the_whole_family(ns, identity) -> None:
    _hire_with_password(ns, identity, 4)
    first = sign_in(identity.url, "person4@example.com").json()

    second = refresh(identity.url, first["refresh_token"])
    assert second.status_code == 200, second.text
    second_body = second.json()
    assert second_body["refresh_token"] != first["refresh_token"]
    assert second_body["access_token"] != first["access_token"]
    third = refresh(identity.url, second_body["refresh_token"]).json()

    # the first token again: stolen and replayed (or a client racing itself)
    replay = refresh(identity.url, first["refresh_token"])
    assert replay.status_code == 401 and replay.json()["code"] == "refresh_token_reused"
    # ...and the family is gone: the newest token, in the legitimate client's hands, too
    latest = refresh(identity.url, third["refresh_token"])
    assert latest.status_code == 401 and latest.json()["code"] == "session_revoked"

    # another session of the same person is untouched
    other = sign_in(identity.url, "person4@example.com").json()
    assert refresh(identity.url, other["refresh_token"]).status_code == 200


async def test_a_reuse_is_audited_once(ns, identity) -> None:
    employee = _hire_with_password(ns, identity, 5)
    first = sign_in(identity.url, "person5@example.com").json()
    refresh(identity.url, first["refresh_token"])
    for _ in range(3):
        assert refresh(identity.url, first["refresh_token"]).status_code == 401
    admin = ns.token(Role.ADMIN, "company")

    async def entries():
        return httpx.get(
            f"{identity.url}/v1/audit",
            params={"action": "session.refresh_token_reused"},
            headers=bearer(admin),
        ).json()["items"]

    found = await eventually(entries, what="the reuse in the audit log")
    assert len(found) == 1
    assert found[0]["target_id"] == employee["id"] and found[0]["outcome"] == "denied"


def test_sign_out_revokes_the_session(ns, identity) -> None:
    _hire_with_password(ns, identity, 6)
    session = sign_in(identity.url, "person6@example.com").json()
    rotated = refresh(identity.url, session["refresh_token"]).json()
    assert sign_out(identity.url, rotated["refresh_token"]).status_code == 204
    after = refresh(identity.url, rotated["refresh_token"])
    assert after.status_code == 401 and after.json()["code"] == "session_revoked"
    unknown = sign_out(identity.url, "not-a-token-we-issued")
    assert unknown.status_code == 401 and unknown.json()["code"] == "invalid_refresh_token"


def test_only_an_admin_over_the_unit_sets_passwords_and_the_policy_holds(ns, identity) -> None:
    admin = ns.token(Role.ADMIN, "company")
    employee = hire(identity.url, admin, 7).json()
    url = identity.url
    as_employee = ns.token(Role.EMPLOYEE, "company", sub=employee["id"])
    refused = set_password(url, as_employee, employee["id"])
    assert refused.status_code == 403
    short = set_password(url, admin, employee["id"], "short")
    assert short.status_code == 400 and short.json()["code"] == "weak_password"
    assert '"short"' not in short.text
    assert set_password(url, admin, "no-such-person").status_code == 404
    # before any password is set, sign-in fails like any other failure
    assert sign_in(url, "person7@example.com").json()["code"] == "invalid_credentials"


async def test_a_password_reset_ends_sessions_begun_before_it_and_is_audited(ns, identity) -> None:
    employee = _hire_with_password(ns, identity, 8)
    session = sign_in(identity.url, "person8@example.com").json()
    admin = ns.token(Role.ADMIN, "company")
    new_password = "another long passphrase"
    assert set_password(identity.url, admin, employee["id"], new_password).status_code == 204
    assert refresh(identity.url, session["refresh_token"]).status_code == 401
    assert sign_in(identity.url, "person8@example.com").status_code == 401
    assert sign_in(identity.url, "person8@example.com", new_password).status_code == 200

    async def entries():
        return httpx.get(
            f"{identity.url}/v1/audit",
            params={"action": "employee.password_set", "target_id": employee["id"]},
            headers=bearer(admin),
        ).json()["items"]

    found = await eventually(entries, lambda e: len(e) == 2, what="both password settings")
    assert {e["actor"] for e in found} == {"test-admin"}
    assert PASSWORD not in str(found) and new_password not in str(found)


async def test_a_hash_made_with_old_parameters_is_redone_at_sign_in(ns, mongo) -> None:
    weak = ns.service("identity", instance="weak", **WEAK_HASHING)
    weak.start()
    employee = _hire_with_password(ns, weak, 9)
    weak.kill()
    credentials = mongo[ns.database("identity")]["credentials"]
    before = (await credentials.find_one({"_id": employee["id"]}))["password_hash"]
    assert "m=1024,t=1,p=1" in before

    production = ns.service("identity", instance="production")
    production.start()
    assert sign_in(production.url, "person9@example.com").status_code == 200
    after = (await credentials.find_one({"_id": employee["id"]}))["password_hash"]
    assert after.startswith("$argon2id$") and "m=65536,t=3,p=4" in after
    assert sign_in(production.url, "person9@example.com").status_code == 200
