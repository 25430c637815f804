"""The vault's rules (pure): secret versions, leases, what a check-out hands out, rotation.

A secret is one credential of one account (its password, TOTP seed, API token or recovery
codes) with every version ever recorded, each sealed (the domain sees opaque bytes). A
lease is one check-out: it hands the secret out once, in the check-out's answer, and ends
by check-in, by expiry, or because its holder left or lost access. Rotation flags say the
current version must be replaced; recording a new version clears them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import struct
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from access.domain.aggregate import raising
from chorus_kit.errors import ChorusError, Conflict
from chorus_kit.events import Event
from chorus_kit.events.access import (
    AccountRole,
    RotationRequired,
    SecretCheckedIn,
    SecretCheckedOut,
    SecretKind,
    SecretRotated,
)

CHECKED_OUT = "chorus.access.vault.checked_out"
CHECKED_IN = "chorus.access.vault.checked_in"
ROTATION_REQUIRED = "chorus.access.vault.rotation_required"
ROTATED = "chorus.access.vault.rotated"

DEFAULT_LEASE = timedelta(minutes=15)
MAX_LEASE = timedelta(minutes=60)
MIN_LEASE = timedelta(minutes=1)
# Who may check a secret out: an active grant of one of these roles on its account (viewers
# may not). Owners first: a check-out is recorded under the owner grant when there is one.
CHECK_OUT_ROLES = (AccountRole.OWNER, AccountRole.PUBLISHER)
# How far back a leaver's check-outs count (the issue: "in the last 90 days").
LEAVER_LOOKBACK = timedelta(days=90)

MAX_SECRET_CHARS = 4096
MAX_RECOVERY_CODES = 50
# RFC 4226 §4 asks for at least 128 bits of shared secret and recommends 160; many networks
# still issue 80-bit seeds, so that is the floor accepted here.
MIN_TOTP_SEED_BYTES = 10


class LeaseStatus(StrEnum):
    OPEN = "open"
    ENDED = "ended"


class LeaseEnd(StrEnum):
    """Why a lease ended (a leaver's or mover's reason is passed through as given)."""

    RETURNED = "returned"
    EXPIRED = "expired"
    ACCESS_LOST = "access_lost"


class RotationReason(StrEnum):
    """Why a secret must rotate (a leaver's reason is passed through as given)."""

    CHECKED_OUT = "checked_out"  # the account's policy: rotate after each check-out
    MAX_AGE = "max_age"
    ACCESS_LOST = "access_lost"


class TotpAlgorithm(StrEnum):
    SHA1 = "SHA1"
    SHA256 = "SHA256"
    SHA512 = "SHA512"


@dataclass(frozen=True)
class TotpParameters:
    digits: int = 6
    period_seconds: int = 30
    algorithm: TotpAlgorithm = TotpAlgorithm.SHA1


@dataclass(frozen=True)
class Sealed:
    """An encrypted value as stored: opaque to everything but the envelope that made it."""

    ciphertext: bytes  # nonce + AES-GCM ciphertext and tag
    wrapped_key: bytes  # the data key, wrapped by the key-encryption service
    key_id: str  # which key-encryption key wrapped it
    algorithm: str


@dataclass(frozen=True)
class SecretVersion:
    number: int
    created_at: datetime
    created_by: str
    sealed: Sealed


@dataclass(frozen=True)
class RotationFlag:
    reason: str
    person_id: str | None
    flagged_at: datetime
    version: int
    offboarding_id: str | None = None


@dataclass(frozen=True)
class Secret:
    id: str
    account_id: str
    account_unit_id: str
    kind: SecretKind
    versions: tuple[SecretVersion, ...]
    totp: TotpParameters | None = None
    # Open flags against the current version; empty means no rotation is due.
    rotation_flags: tuple[RotationFlag, ...] = ()
    # Every flag ever raised, by idempotency key: a repeated trigger raises nothing new.
    flag_keys: tuple[str, ...] = ()
    created_at: datetime | None = None
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=(), compare=False)

    @property
    def current(self) -> SecretVersion:
        return self.versions[-1]

    @property
    def rotation_required(self) -> bool:
        return bool(self.rotation_flags)

    @property
    def rotated_at(self) -> datetime:
        return self.current.created_at


@dataclass(frozen=True)
class Lease:
    id: str
    account_id: str
    account_unit_id: str
    secret_id: str
    kind: SecretKind
    version: int
    holder_id: str
    checked_out_at: datetime
    expires_at: datetime
    grant_id: str | None = None  # the grant it was checked out under
    ended_at: datetime | None = None
    ended_because: str | None = None
    ended_by: str | None = None
    offboarding_id: str | None = None
    # The account's policy asked for rotation after this check-out and the secret is not
    # flagged yet (a crash between the two writes leaves it true for the tick to finish).
    rotation_flag_pending: bool = False
    sequence: int = 0
    pending_events: tuple[Event, ...] = field(default=(), compare=False)

    @property
    def status(self) -> LeaseStatus:
        return LeaseStatus.OPEN if self.ended_at is None else LeaseStatus.ENDED

    def is_overdue(self, now: datetime) -> bool:
        return self.ended_at is None and self.expires_at <= now


@dataclass(frozen=True)
class Handout:
    """What one check-out gives its holder: the secret, or for TOTP only the current code."""

    kind: SecretKind
    value: str | None = None
    codes: tuple[str, ...] | None = None
    totp_code: str | None = None
    code_valid_until: datetime | None = None


# --- identities and bindings ---------------------------------------------------------------------
def secret_id_for(account_id: str, kind: SecretKind) -> str:
    """One secret per account and kind: its id is derived, so a first record cannot race."""
    return f"{account_id}:{kind.value}"


def associated_data(*, account_id: str, secret_id: str, kind: SecretKind, version: int) -> bytes:
    """What a sealed version is bound to: a ciphertext moved to another account, secret or
    version (or a version's ciphertext paired with another's data key) fails to open."""
    return (
        f"chorus-vault/1|account={account_id}|secret={secret_id}|kind={kind.value}"
        f"|version={version}"
    ).encode()


# --- values (what owners record, what check-outs hand out) ------------------------------------
def encode_value(kind: SecretKind, *, value: str | None, codes: list[str] | None) -> bytes:
    """The plaintext to seal. Errors name the problem, never the value."""
    if kind is SecretKind.RECOVERY_CODES:
        if value is not None or not codes:
            raise ChorusError("recovery codes are given as `codes`", code="codes_required")
        if len(codes) > MAX_RECOVERY_CODES:
            raise ChorusError("too many recovery codes", code="too_many_codes")
        if any(not c.strip() or len(c) > 200 for c in codes):
            raise ChorusError("a recovery code is empty or too long", code="invalid_code")
        return json.dumps(codes).encode()
    if codes is not None or not value:
        raise ChorusError(f"a {kind.value} is given as `value`", code="value_required")
    if len(value) > MAX_SECRET_CHARS:
        raise ChorusError("the value is too long", code="value_too_long")
    if kind is SecretKind.TOTP_SEED:
        seed = normalised_seed(value)
        totp_seed_bytes(seed)  # refuse what could never produce a code
        return seed.encode()
    return value.encode()


def normalised_seed(value: str) -> str:
    """Base32 as networks print it: spaces and dashes dropped, upper case."""
    return "".join(value.split()).replace("-", "").upper()


def totp_seed_bytes(seed: str) -> bytes:
    padded = seed + "=" * (-len(seed) % 8)
    try:
        raw = base64.b32decode(padded, casefold=True)
    except (binascii.Error, ValueError):
        raise ChorusError("the TOTP seed is not valid base32", code="invalid_totp_seed") from None
    if len(raw) < MIN_TOTP_SEED_BYTES:
        raise ChorusError("the TOTP seed is too short", code="invalid_totp_seed")
    return raw


def totp_code(seed: bytes, at: datetime, parameters: TotpParameters) -> str:
    """RFC 6238 (TOTP over RFC 4226 HOTP): the code for the time step holding `at`."""
    counter = int(at.timestamp()) // parameters.period_seconds
    digest = hmac.new(seed, struct.pack(">Q", counter), parameters.algorithm.value.lower()).digest()
    offset = digest[-1] & 0x0F
    binary = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**parameters.digits).zfill(parameters.digits)


def handout(secret: Secret, plaintext: bytes, now: datetime) -> Handout:
    """What a check-out returns: the value, the codes, or (TOTP) the current code only."""
    if secret.kind is SecretKind.TOTP_SEED:
        parameters = secret.totp or TotpParameters()
        step = int(now.timestamp()) // parameters.period_seconds
        valid_until = datetime.fromtimestamp((step + 1) * parameters.period_seconds, UTC)
        code = totp_code(totp_seed_bytes(plaintext.decode()), now, parameters)
        return Handout(kind=secret.kind, totp_code=code, code_valid_until=valid_until)
    if secret.kind is SecretKind.RECOVERY_CODES:
        return Handout(kind=secret.kind, codes=tuple(json.loads(plaintext)))
    return Handout(kind=secret.kind, value=plaintext.decode())


# --- leases ------------------------------------------------------------------------------------
def lease_lifetime(minutes: int | None) -> timedelta:
    if minutes is None:
        return DEFAULT_LEASE
    wanted = timedelta(minutes=minutes)
    if not MIN_LEASE <= wanted <= MAX_LEASE:
        raise ChorusError(
            f"a lease lasts {MIN_LEASE.seconds // 60} to {MAX_LEASE.seconds // 60} minutes",
            code="lease_duration_out_of_range",
        )
    return wanted


def check_out(
    secret: Secret,
    *,
    holder_id: str,
    lifetime: timedelta,
    rotate_after: bool,
    now: datetime,
    grant_id: str | None = None,
) -> Lease:
    """A new open lease on the current version, raising `checked_out`."""
    lease = Lease(
        id=str(uuid.uuid4()),
        account_id=secret.account_id,
        account_unit_id=secret.account_unit_id,
        secret_id=secret.id,
        kind=secret.kind,
        version=secret.current.number,
        holder_id=holder_id,
        checked_out_at=now,
        expires_at=now + lifetime,
        grant_id=grant_id,
        rotation_flag_pending=rotate_after,
    )
    data = SecretCheckedOut(
        account_id=lease.account_id,
        secret_id=lease.secret_id,
        kind=lease.kind,
        lease_id=lease.id,
        holder_id=holder_id,
        lease_expires_at=lease.expires_at,
    )
    return raising(lease, (CHECKED_OUT, data))


def end_lease(
    lease: Lease,
    *,
    because: str,
    by: str,
    now: datetime,
    offboarding_id: str | None = None,
) -> Lease:
    """The lease ended (returned, expired, or its holder left or lost access)."""
    if lease.ended_at is not None:
        raise Conflict("the lease has ended already", code="lease_ended")
    data = SecretCheckedIn(
        account_id=lease.account_id,
        secret_id=lease.secret_id,
        lease_id=lease.id,
        holder_id=lease.holder_id,
        ended_because=because,
        offboarding_id=offboarding_id,
    )
    return raising(
        lease,
        (CHECKED_IN, data),
        ended_at=now,
        ended_because=because,
        ended_by=by,
        offboarding_id=offboarding_id,
    )


def rotation_flag_settled(lease: Lease) -> Lease:
    return replace(lease, rotation_flag_pending=False)


# --- secrets and rotation ------------------------------------------------------------------------
def record_version(
    secret: Secret | None,
    *,
    account_id: str,
    account_unit_id: str,
    kind: SecretKind,
    sealed: Sealed,
    totp: TotpParameters | None,
    by: str,
    now: datetime,
) -> Secret:
    """A new current version (the first, or a rotation): old versions stay, sealed, for audit;
    every open rotation flag is cleared, since the value they were about is no longer in use."""
    number = next_version(secret)
    version = SecretVersion(number=number, created_at=now, created_by=by, sealed=sealed)
    if secret is None:
        secret = Secret(
            id=secret_id_for(account_id, kind),
            account_id=account_id,
            account_unit_id=account_unit_id,
            kind=kind,
            versions=(),
            created_at=now,
        )
    updated = replace(
        secret,
        account_unit_id=account_unit_id,
        versions=(*secret.versions, version),
        totp=totp if kind is SecretKind.TOTP_SEED else None,
        rotation_flags=(),
    )
    data = SecretRotated(
        account_id=updated.account_id,
        secret_id=updated.id,
        kind=kind,
        version=number,
        rotated_by=by,
    )
    return raising(updated, (ROTATED, data))


def next_version(secret: Secret | None) -> int:
    return 1 if secret is None else secret.current.number + 1


def flag_key(*, reason: str, person_id: str | None, cause_id: str | None) -> str:
    """Idempotency of a rotation trigger: one flag per (secret, person, reason, cause)."""
    return f"{reason}|{person_id or '-'}|{cause_id or '-'}"


def flag_rotation(
    secret: Secret,
    *,
    reason: str,
    person_id: str | None,
    key: str,
    now: datetime,
    offboarding_id: str | None = None,
) -> Secret:
    """The current version must be replaced. A trigger already seen (same key) changes nothing."""
    if key in secret.flag_keys:
        return secret
    flag = RotationFlag(
        reason=reason,
        person_id=person_id,
        flagged_at=now,
        version=secret.current.number,
        offboarding_id=offboarding_id,
    )
    updated = replace(
        secret,
        rotation_flags=(*secret.rotation_flags, flag),
        flag_keys=(*secret.flag_keys, key),
    )
    data = RotationRequired(
        account_id=secret.account_id,
        secret_id=secret.id,
        kind=secret.kind,
        reason=reason,
        person_id=person_id,
        version=flag.version,
        offboarding_id=offboarding_id,
    )
    return raising(updated, (ROTATION_REQUIRED, data))


def max_age_key(secret: Secret) -> str:
    """Each version reaches its maximum age once."""
    return flag_key(
        reason=RotationReason.MAX_AGE, person_id=None, cause_id=f"v{secret.current.number}"
    )


def past_max_age(secret: Secret, *, max_age_days: int | None, now: datetime) -> bool:
    """The current version is older than the account allows (no maximum: never)."""
    return is_past_max_age(secret.rotated_at, max_age_days=max_age_days, now=now)


def is_past_max_age(rotated_at: datetime, *, max_age_days: int | None, now: datetime) -> bool:
    if not max_age_days or max_age_days <= 0:
        return False
    return now - rotated_at >= timedelta(days=max_age_days)
