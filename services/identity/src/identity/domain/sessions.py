"""Sign-in rules, pure: password policy, refresh-token rotation and reuse, failed-attempt
windows, and which address a request really comes from.

Refresh tokens: an opaque secret handed to the client once; only its SHA-256 is stored (it
has 256 bits of entropy, so a fast hash suffices). Each sign-in starts a *family*; every
refresh consumes the presented token and issues its child. A token is consumed exactly
when a child naming it as `parent` exists, and `parent` is unique in storage, so two
refreshes of one token cannot both succeed: the loser is a reuse, which means the token
was copied (or a client raced itself), and the whole family is revoked.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chorus_kit.errors import ChorusError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ROOT_PARENT = "root:"  # a family's first token has no parent; the field is always present


# --- passwords ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PasswordPolicy:
    """Length over composition rules (NIST SP 800-63B): long enough, not the email itself."""

    min_length: int = 12
    max_length: int = 256  # argon2 takes any length; this bounds the work a request causes

    def check(self, password: str, *, email: str) -> None:
        """Raise `weak_password` saying what is wrong, never echoing the password."""
        if len(password) < self.min_length:
            raise ChorusError(
                f"the password needs at least {self.min_length} characters", code="weak_password"
            )
        if len(password) > self.max_length:
            raise ChorusError(
                f"the password may have at most {self.max_length} characters",
                code="weak_password",
            )
        if len(set(password)) == 1:
            raise ChorusError("the password repeats one character", code="weak_password")
        folded = password.casefold()
        local_part = email.casefold().split("@", 1)[0]
        if folded == email.casefold() or (len(local_part) >= 4 and local_part in folded):
            raise ChorusError("the password contains the email address", code="weak_password")


# --- refresh tokens -----------------------------------------------------------------------
@dataclass(frozen=True)
class RefreshLifetimes:
    token: timedelta  # each token, from when it is issued
    session: timedelta  # a family, from sign-in, however often it is refreshed


@dataclass(frozen=True)
class RefreshToken:
    """A stored refresh token (the secret itself is never stored)."""

    token_hash: str
    family_id: str
    person_id: str
    family_started_at: datetime
    issued_at: datetime
    expires_at: datetime
    parent: str  # the hash of the token this one replaced, or ROOT_PARENT + family id


def hash_refresh_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def start_family(
    person_id: str, *, now: datetime, lifetimes: RefreshLifetimes
) -> tuple[str, RefreshToken]:
    """A sign-in's first refresh token: (the secret for the client, what is stored)."""
    secret = _new_secret()
    family_id = str(uuid.uuid4())
    token = RefreshToken(
        token_hash=hash_refresh_token(secret),
        family_id=family_id,
        person_id=person_id,
        family_started_at=now,
        issued_at=now,
        expires_at=min(now + lifetimes.token, now + lifetimes.session),
        parent=ROOT_PARENT + family_id,
    )
    return secret, token


def rotate(
    current: RefreshToken, *, now: datetime, lifetimes: RefreshLifetimes
) -> tuple[str, RefreshToken]:
    """The child that replaces `current`; storing it is what consumes `current`."""
    secret = _new_secret()
    child = RefreshToken(
        token_hash=hash_refresh_token(secret),
        family_id=current.family_id,
        person_id=current.person_id,
        family_started_at=current.family_started_at,
        issued_at=now,
        expires_at=min(now + lifetimes.token, current.family_started_at + lifetimes.session),
        parent=current.token_hash,
    )
    return secret, child


class RefreshRefusal(StrEnum):
    """Why a presented refresh token buys nothing (each is also the error code)."""

    UNKNOWN = "invalid_refresh_token"
    EXPIRED = "refresh_token_expired"
    FAMILY_REVOKED = "session_revoked"
    PERSON_REVOKED = "sessions_revoked"
    REUSED = "refresh_token_reused"
    NOT_ACTIVE = "not_active"


def refresh_refusal(
    token: RefreshToken | None,
    *,
    now: datetime,
    family_revoked: bool,
    person_sessions_revoked: bool,
) -> RefreshRefusal | None:
    """Why `token` may not be refreshed, or None if it may (its consumption decides reuse).

    `person_sessions_revoked` says whether the person's sessions were revoked after this
    family started (offboarding, suspension: `chorus.identity.session.revoked`).
    """
    if token is None:
        return RefreshRefusal.UNKNOWN
    if now >= token.expires_at:
        return RefreshRefusal.EXPIRED
    if family_revoked:
        return RefreshRefusal.FAMILY_REVOKED
    if person_sessions_revoked:
        return RefreshRefusal.PERSON_REVOKED
    return None


# --- OIDC ----------------------------------------------------------------------------------
def new_pkce_verifier() -> str:
    return secrets.token_urlsafe(48)  # 64 characters; RFC 7636 wants 43 to 128


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


# --- failed attempts ----------------------------------------------------------------------
class TooManyAttempts(ChorusError):
    status = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts; retry in {retry_after} s")
        self.retry_after = retry_after


class AttemptScope(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True)
class AttemptLimit:
    scope: AttemptScope
    limit: int
    window: timedelta


@dataclass(frozen=True)
class Attempt:
    """A failed attempt, or one still being checked (`pending`): a reserved guess."""

    at: datetime
    pending: bool = False


# A pending attempt whose request died never turns into a failure; after this it stops counting.
PENDING_COUNTS_FOR = timedelta(seconds=30)


def account_key(email: str) -> str:
    # Hashed: the typed text may be anything, even a password typed into the wrong field.
    digest = hashlib.sha256(email.strip().casefold().encode()).hexdigest()[:32]
    return f"{AttemptScope.ACCOUNT.value}:{digest}"


def address_key(address: str) -> str:
    return f"{AttemptScope.ADDRESS.value}:{address}"


def throttled_for(
    others: Iterable[Attempt], *, limit: AttemptLimit, now: datetime
) -> timedelta | None:
    """How long the caller must wait, or None if another attempt may go ahead now.

    `others` are the key's attempts except the caller's own reservation. Every attempt
    reserves its slot before its password is checked, so concurrent guesses count each
    other: at most `limit.limit` guesses per window get checked, however many arrive at once.
    A refusal caused only by attempts still in flight says "retry in a second"; one caused
    by failures says when the oldest failure that matters leaves the window.
    """
    since = now - limit.window
    failures = sorted(a.at for a in others if not a.pending and a.at > since)
    in_flight = sum(1 for a in others if a.pending and a.at > now - PENDING_COUNTS_FOR)
    if len(failures) + in_flight < limit.limit:
        return None
    if len(failures) < limit.limit:
        return timedelta(seconds=1)
    frees_at = failures[len(failures) - limit.limit] + limit.window
    return max(frees_at - now, timedelta(seconds=1))


def burst_bucket(now: datetime, window: timedelta) -> int:
    """The fixed window `now` falls in. A burst is audited once: when the marker of its bucket
    is created and the previous bucket has none (a burst spanning buckets continues)."""
    return int(now.timestamp() // window.total_seconds())


def retry_after_seconds(wait: timedelta) -> int:
    return max(1, int(-(-wait.total_seconds() // 1)))


# --- the client's address -----------------------------------------------------------------
def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str:
    """The address a request comes from: the socket peer, unless the peer is a trusted proxy.

    Behind trusted proxies, `X-Forwarded-For` is read from the right (each proxy appends
    the address it saw), skipping trusted hops: the right-most untrusted hop is the client.
    Anything left of it was written by the client and proves nothing. A malformed hop ends
    the walk at the last proxy that could be trusted.
    """
    if not peer:
        return "unknown"
    peer_ip = _ip(peer)
    if peer_ip is None:
        return peer
    if not _is_trusted(peer_ip, trusted):
        return str(peer_ip)
    hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
    last = peer_ip
    for hop in reversed(hops):
        hop_ip = _ip(hop)
        if hop_ip is None:
            return str(last)
        if not _is_trusted(hop_ip, trusted):
            return str(hop_ip)
        last = hop_ip
    return str(last)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    candidate = text.strip()
    if candidate.startswith("["):  # "[2001:db8::1]:443"
        candidate = candidate[1:].split("]", 1)[0]
    elif candidate.count(":") == 1:  # "192.0.2.1:443"
        candidate = candidate.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[IPNetwork]
) -> bool:
    return any(address.version == net.version and address in net for net in trusted)
