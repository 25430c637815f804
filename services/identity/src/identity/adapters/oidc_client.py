"""An external OpenID Connect provider (authorization code flow with PKCE), over HTTP.

Discovery, the code exchange at the token endpoint, and the ID token's verification:
signature by the provider's JWKS (chorus_kit's `JwksCache`, refetched on an unknown kid),
`iss`, `aud` (and `azp`), `exp`/`iat`, and the `nonce` this sign-in stored.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import jwt
from pydantic import SecretStr

from chorus_kit.auth import JwksCache
from chorus_kit.errors import ChorusError, Unauthorized

# Asymmetric algorithms only: `none` and HMAC (keyed with the client secret) are refused.
ACCEPTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
CLOCK_LEEWAY_SECONDS = 60


class ProviderUnavailable(ChorusError):
    status = 502
    code = "oidc_provider_unavailable"


class OidcRefused(Exception):
    """The provider or its ID token says no; `code` is the error code for the client."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: SecretStr | None
    discovery_url: str
    redirect_uri: str
    scopes: str = "openid email profile"


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: frozenset[str]
    token_auth_methods: tuple[str, ...]


@dataclass(frozen=True)
class VerifiedIdentity:
    subject: str
    email: str


class OidcClient:
    def __init__(self, config: OidcConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self._http = http
        self._metadata: ProviderMetadata | None = None
        self._jwks: JwksCache | None = None
        self._lock = asyncio.Lock()

    async def metadata(self) -> ProviderMetadata:
        async with self._lock:
            if self._metadata is None:
                self._metadata = await self._discover()
                self._jwks = JwksCache(self._metadata.jwks_uri)
        return self._metadata

    async def _discover(self) -> ProviderMetadata:
        try:
            response = await self._http.get(self.config.discovery_url)
            response.raise_for_status()
            document: dict[str, Any] = response.json()
            metadata = ProviderMetadata(
                issuer=str(document["issuer"]),
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
                algorithms=frozenset(document.get("id_token_signing_alg_values_supported", []))
                & ACCEPTED_ALGORITHMS
                or frozenset({"RS256"}),
                token_auth_methods=tuple(
                    document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
                ),
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise ProviderUnavailable("the sign-in provider's discovery document failed") from exc
        if metadata.issuer != self.config.issuer:  # OpenID Connect Discovery §4.3
            raise ProviderUnavailable("the provider's discovery document names another issuer")
        return metadata

    async def authorization_url(self, *, state: str, nonce: str, code_challenge: str) -> str:
        metadata = await self.metadata()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": self.config.redirect_uri,
                "scope": self.config.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return f"{metadata.authorization_endpoint}{separator}{query}"

    async def exchange_code(self, code: str, *, code_verifier: str) -> str:
        """The ID token the provider gives for `code` (proving the PKCE verifier)."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "code_verifier": code_verifier,
            "client_id": self.config.client_id,
        }
        headers = {"Accept": "application/json"}
        secret = self.config.client_secret
        if secret is not None:
            if "client_secret_basic" in metadata.token_auth_methods:
                # RFC 6749 §2.3.1: each part form-encoded, then "id:secret" in base64.
                client_id, password = self.config.client_id, secret.get_secret_value()
                pair = f"{quote_plus(client_id)}:{quote_plus(password)}"
                headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
            else:
                form["client_secret"] = secret.get_secret_value()
        try:
            response = await self._http.post(metadata.token_endpoint, data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable("the sign-in provider did not answer") from exc
        if response.status_code >= 500:
            raise ProviderUnavailable("the sign-in provider failed")
        if response.status_code != 200:
            raise OidcRefused("oidc_code_rejected", "the provider refused the authorization code")
        try:
            id_token = response.json()["id_token"]
        except (ValueError, KeyError, TypeError):
            raise OidcRefused("oidc_code_rejected", "the provider sent no ID token") from None
        if not isinstance(id_token, str):
            raise OidcRefused("oidc_code_rejected", "the provider sent no ID token")
        return id_token

    async def verify_id_token(self, id_token: str, *, nonce: str) -> VerifiedIdentity:
        metadata = await self.metadata()
        assert self._jwks is not None
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OidcRefused("oidc_id_token_invalid", "the ID token is malformed") from None
        algorithm = header.get("alg")
        if algorithm not in metadata.algorithms or not header.get("kid"):
            raise OidcRefused("oidc_id_token_invalid", "the ID token's algorithm is not accepted")
        try:
            key = await self._jwks.key(str(header["kid"]))
        except Unauthorized as exc:
            raise OidcRefused("oidc_id_token_invalid", "the ID token's key is unknown") from exc
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=[str(algorithm)],
                audience=self.config.client_id,
                issuer=self.config.issuer,
                leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise OidcRefused(
                "oidc_id_token_invalid", f"the ID token is not valid ({type(exc).__name__})"
            ) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise OidcRefused("oidc_id_token_invalid", "the ID token was issued to another party")
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcRefused("oidc_nonce_mismatch", "the ID token belongs to another sign-in")
        email = claims.get("email")
        verified = claims.get("email_verified")
        if not isinstance(email, str) or "@" not in email:
            raise OidcRefused("oidc_email_missing", "the ID token carries no email")
        if verified is not True and str(verified).lower() != "true":
            raise OidcRefused("oidc_email_unverified", "the provider has not verified the email")
        return VerifiedIdentity(subject=str(claims["sub"]), email=email.lower())
