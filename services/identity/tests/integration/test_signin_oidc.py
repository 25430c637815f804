"""Single sign-on through an external OIDC provider (a fake one on loopback, no patching):
code flow with state, nonce and PKCE; the ID token's checks; mapping to an employee."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from chorus_kit.events.identity import Role
from services.identity.tests.support.fake_oidc import FakeOidcProvider
from services.identity.tests.support.sessions import WEAK_HASHING
from tests.support.api import bearer, hire

REDIRECT_URI = "https://chorus.example/signed-in"


@pytest.fixture
def provider():
    fake = FakeOidcProvider().start()
    yield fake
    fake.stop()


@pytest.fixture
def identity(ns, provider):
    service = ns.service(
        "identity",
        CHORUS_OIDC_ISSUER=provider.issuer,
        CHORUS_OIDC_CLIENT_ID=provider.client_id,
        CHORUS_OIDC_CLIENT_SECRET=provider.client_secret,
        CHORUS_OIDC_REDIRECT_URI=REDIRECT_URI,
        **WEAK_HASHING,
    )
    service.start()
    return service


def _start(identity) -> dict:
    response = httpx.get(f"{identity.url}/v1/sessions/oidc/start")
    assert response.status_code == 200, response.text
    return response.json()


def _at_provider(authorization_url: str) -> tuple[str, str]:
    """The browser at the provider: it answers with a redirect carrying code and state."""
    response = httpx.get(authorization_url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = urlparse(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    return query["code"][0], query["state"][0]


def _callback(identity, code: str, state: str) -> httpx.Response:
    return httpx.post(
        f"{identity.url}/v1/sessions/oidc/callback", json={"code": code, "state": state}
    )


def _sign_in(identity) -> httpx.Response:
    code, state = _at_provider(_start(identity)["authorization_url"])
    return _callback(identity, code, state)


def test_the_code_flow_signs_in_the_employee_with_the_verified_email(
    ns, identity, provider
) -> None:
    admin = ns.token(Role.ADMIN, "company")
    employee = hire(identity.url, admin, 1).json()
    provider.sign_in_as("Person1@Example.com")

    started = _start(identity)
    query = parse_qs(urlparse(started["authorization_url"]).query)
    assert started["authorization_url"].startswith(f"{provider.issuer}/authorize?")
    assert query["state"] == [started["state"]] and query["client_id"] == [provider.client_id]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["nonce"][0]) >= 32 and "openid" in query["scope"][0].split()
    assert query["redirect_uri"] == [REDIRECT_URI]

    code, state = _at_provider(started["authorization_url"])
    signed_in = _callback(identity, code, state)
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()
    assert tokens["person_id"] == employee["id"]
    me = httpx.get(
        f"{identity.url}/v1/employees/{employee['id']}", headers=bearer(tokens["access_token"])
    )
    assert me.status_code == 200
    refreshed = httpx.post(
        f"{identity.url}/v1/sessions/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200

    # the state is single use: replaying the callback gets nothing (not even a code exchange)
    exchanges = provider.token_requests
    replay = _callback(identity, code, state)
    assert replay.status_code == 401 and replay.json()["code"] == "oidc_state_invalid"
    assert provider.token_requests == exchanges


REFUSED_ID_TOKENS = [
    ({"nonce": "a-nonce-from-another-sign-in"}, "oidc_nonce_mismatch"),
    ({"aud": "some-other-client"}, "oidc_id_token_invalid"),
    ({"iss": "https://evil.example"}, "oidc_id_token_invalid"),
    ({"exp": 1_000_000_000}, "oidc_id_token_invalid"),
    ({"email_verified": False}, "oidc_email_unverified"),
]


def test_an_id_token_failing_a_check_is_refused(ns, identity, provider) -> None:
    hire(identity.url, ns.token(Role.ADMIN, "company"), 2)
    provider.sign_in_as("person2@example.com")
    for tampered, code in REFUSED_ID_TOKENS:
        provider.tamper_next_id_token(**tampered)
        refused = _sign_in(identity)
        assert (refused.status_code, refused.json()["code"]) == (401, code), tampered
        assert "access_token" not in refused.text
    assert _sign_in(identity).status_code == 200  # the same person, an untampered token


def test_someone_who_is_no_current_employee_gets_nothing(ns, identity, provider) -> None:
    provider.sign_in_as("stranger@example.com")
    refused = _sign_in(identity)
    assert refused.status_code == 401 and refused.json()["code"] == "oidc_no_active_employee"


def test_an_unknown_state_or_a_code_the_provider_refuses_gets_nothing(
    ns, identity, provider
) -> None:
    assert _callback(identity, "code", "never-issued").json()["code"] == "oidc_state_invalid"
    hire(identity.url, ns.token(Role.ADMIN, "company"), 3)
    provider.sign_in_as("person3@example.com")
    _, state = _at_provider(_start(identity)["authorization_url"])
    refused = _callback(identity, "a-code-the-provider-never-gave", state)
    assert refused.status_code == 401 and refused.json()["code"] == "oidc_code_rejected"
