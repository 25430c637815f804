"""A leaver's (or a suspended person's) tokens stop working: the access token through the
session topic, the refresh token by status check and by deletion."""

from __future__ import annotations

import httpx
import pytest

from chorus_kit.events.identity import Role
from services.identity.tests.support.sessions import WEAK_HASHING, refresh, set_password, sign_in
from tests.support.api import bearer, hire, offboard
from tests.support.polling import eventually


@pytest.fixture
def identity(ns):
    service = ns.service("identity", **WEAK_HASHING)
    service.start()
    return service


def _signed_in(ns, identity, n: int) -> tuple[dict, dict]:
    admin = ns.token(Role.ADMIN, "company")
    employee = hire(identity.url, admin, n).json()
    assert set_password(identity.url, admin, employee["id"]).status_code == 204
    session = sign_in(identity.url, f"person{n}@example.com").json()
    return employee, refresh(identity.url, session["refresh_token"]).json()


def _read_self(identity, employee: dict, access_token: str) -> httpx.Response:
    return httpx.get(f"{identity.url}/v1/employees/{employee['id']}", headers=bearer(access_token))


async def test_offboarding_revokes_the_leavers_refresh_and_access_tokens(
    ns, identity, mongo
) -> None:
    employee, session = _signed_in(ns, identity, 1)
    assert _read_self(identity, employee, session["access_token"]).status_code == 200
    tokens = mongo[ns.database("identity")]["refresh_tokens"]
    assert await tokens.count_documents({"person_id": employee["id"]}) == 2  # root + child

    assert (
        offboard(identity.url, ns.token(Role.ADMIN, "company"), employee["id"]).status_code == 200
    )

    refused = await eventually(
        lambda: _async(_read_self, identity, employee, session["access_token"]),
        lambda r: r.status_code == 401,
        timeout=10,
        what="the leaver's access token refused",
    )
    assert refused.json()["code"] == "session_revoked"
    again = refresh(identity.url, session["refresh_token"])
    assert again.status_code == 401
    assert again.json()["code"] in {"sessions_revoked", "not_active"}
    # the session.revoked consumer deleted their refresh tokens
    await eventually(
        lambda: tokens.count_documents({"person_id": employee["id"]}),
        lambda n: n == 0,
        timeout=20,
        what="the leaver's refresh tokens deleted",
    )
    assert sign_in(identity.url, "person1@example.com").json()["code"] == "invalid_credentials"


async def test_suspension_revokes_sessions_until_reinstated(ns, identity) -> None:
    employee, session = _signed_in(ns, identity, 2)
    admin = ns.token(Role.ADMIN, "company")
    suspend = httpx.post(
        f"{identity.url}/v1/employees/{employee['id']}/suspend",
        json={"reason": "investigation"},
        headers=bearer(admin),
    )
    assert suspend.status_code == 200, suspend.text
    await eventually(
        lambda: _async(_read_self, identity, employee, session["access_token"]),
        lambda r: r.status_code == 401,
        timeout=10,
        what="the suspended person's access token refused",
    )
    assert refresh(identity.url, session["refresh_token"]).status_code == 401
    assert sign_in(identity.url, "person2@example.com").status_code == 401  # not active

    reinstated = httpx.post(
        f"{identity.url}/v1/employees/{employee['id']}/reinstate", headers=bearer(admin)
    )
    assert reinstated.status_code == 200
    assert refresh(identity.url, session["refresh_token"]).status_code == 401  # old stays dead

    async def fresh_session_works():
        fresh = sign_in(identity.url, "person2@example.com").json()
        return _read_self(identity, employee, fresh["access_token"]).status_code

    # tokens carry whole-second `iat`: one issued in the second of the suspension waits it out
    await eventually(fresh_session_works, lambda code: code == 200, timeout=10, what="new session")


async def _async(function, *args):
    return function(*args)
