"""The vault's REST API. Secrets arrive as `SecretStr` (never printed, never echoed by a
validation error), leave only in a check-out's answer, and no answer here may be cached."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from access.domain.vault import (
    MAX_RECOVERY_CODES,
    MAX_SECRET_CHARS,
    Handout,
    Lease,
    LeaseStatus,
    Secret,
    TotpAlgorithm,
    TotpParameters,
)
from access.vault_handlers import VaultHandlers
from chorus_kit.errors import ChorusError
from chorus_kit.events.access import SecretKind
from chorus_kit.web import CurrentPrincipal


class _Request(BaseModel):
    # A failed validation must not carry the input anywhere (its str() would show it).
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class TotpWrite(_Request):
    digits: int = Field(default=6, ge=6, le=8)
    period_seconds: int = Field(default=30, ge=15, le=120)
    algorithm: TotpAlgorithm = TotpAlgorithm.SHA1


class SecretWrite(_Request):
    """A secret's new value: `value` for a password, API token or TOTP seed (base32),
    `codes` for recovery codes."""

    value: SecretStr | None = Field(default=None, min_length=1, max_length=MAX_SECRET_CHARS)
    codes: list[SecretStr] | None = Field(default=None, min_length=1, max_length=MAX_RECOVERY_CODES)
    totp: TotpWrite | None = None


class CheckOutRequest(_Request):
    minutes: int | None = Field(default=None, description="lease length, 1 to 60; default 15")


class VersionRead(BaseModel):
    version: int
    created_at: datetime
    created_by: str


class RotationFlagRead(BaseModel):
    reason: str
    person_id: str | None
    flagged_at: datetime
    version: int
    offboarding_id: str | None


class SecretRead(BaseModel):
    """A secret's metadata; the value of no version is ever part of it."""

    secret_id: str
    account_id: str
    kind: SecretKind
    current_version: int
    rotated_at: datetime
    versions: list[VersionRead]
    rotation_required: bool
    rotation_flags: list[RotationFlagRead]
    totp_digits: int | None
    totp_period_seconds: int | None

    @classmethod
    def of(cls, secret: Secret) -> SecretRead:
        return cls(
            secret_id=secret.id,
            account_id=secret.account_id,
            kind=secret.kind,
            current_version=secret.current.number,
            rotated_at=secret.rotated_at,
            versions=[
                VersionRead(version=v.number, created_at=v.created_at, created_by=v.created_by)
                for v in secret.versions
            ],
            rotation_required=secret.rotation_required,
            rotation_flags=[
                RotationFlagRead(
                    reason=f.reason,
                    person_id=f.person_id,
                    flagged_at=f.flagged_at,
                    version=f.version,
                    offboarding_id=f.offboarding_id,
                )
                for f in secret.rotation_flags
            ],
            totp_digits=secret.totp.digits if secret.totp else None,
            totp_period_seconds=secret.totp.period_seconds if secret.totp else None,
        )


class LeaseRead(BaseModel):
    """A lease as anyone sees it after its check-out: never the secret."""

    lease_id: str
    account_id: str
    secret_id: str
    kind: SecretKind
    version: int
    holder_id: str
    status: LeaseStatus
    checked_out_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    ended_because: str | None
    ended_by: str | None
    offboarding_id: str | None

    @classmethod
    def of(cls, lease: Lease) -> LeaseRead:
        return cls(
            lease_id=lease.id,
            account_id=lease.account_id,
            secret_id=lease.secret_id,
            kind=lease.kind,
            version=lease.version,
            holder_id=lease.holder_id,
            status=lease.status,
            checked_out_at=lease.checked_out_at,
            expires_at=lease.expires_at,
            ended_at=lease.ended_at,
            ended_because=lease.ended_because,
            ended_by=lease.ended_by,
            offboarding_id=lease.offboarding_id,
        )


class HandoutRead(BaseModel):
    # A response that failed validation would otherwise be logged with its input.
    model_config = ConfigDict(hide_input_in_errors=True)
    kind: SecretKind
    value: str | None = None
    codes: list[str] | None = None
    totp_code: str | None = None
    code_valid_until: datetime | None = None

    @classmethod
    def of(cls, given: Handout) -> HandoutRead:
        return cls(
            kind=given.kind,
            value=given.value,
            codes=list(given.codes) if given.codes is not None else None,
            totp_code=given.totp_code,
            code_valid_until=given.code_valid_until,
        )


class CheckOutRead(BaseModel):
    """The one answer that carries the secret: shown once, never stored, never again."""

    model_config = ConfigDict(hide_input_in_errors=True)
    lease: LeaseRead
    secret: HandoutRead


class LeasePage(BaseModel):
    items: list[LeaseRead]
    next_cursor: str | None


def _handlers(request: Request) -> VaultHandlers:
    handlers: VaultHandlers = request.app.state.vault
    return handlers


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


Handlers = Annotated[VaultHandlers, Depends(_handlers)]
router = APIRouter(tags=["vault"], dependencies=[Depends(_no_store)])


@router.put("/v1/accounts/{account_id}/secrets/{kind}")
async def record_secret(
    account_id: str, kind: SecretKind, body: SecretWrite, handlers: Handlers, by: CurrentPrincipal
) -> SecretRead:
    """Record a secret's first or next version (owners); a new version clears rotation flags."""
    totp = (
        TotpParameters(
            digits=body.totp.digits,
            period_seconds=body.totp.period_seconds,
            algorithm=body.totp.algorithm,
        )
        if body.totp
        else None
    )
    secret = await handlers.record_secret(
        account_id, kind, value=body.value, codes=body.codes, totp=totp, by=by
    )
    return SecretRead.of(secret)


@router.get("/v1/accounts/{account_id}/secrets")
async def list_secrets(
    account_id: str, handlers: Handlers, by: CurrentPrincipal
) -> list[SecretRead]:
    return [SecretRead.of(s) for s in await handlers.list_secrets(account_id, by=by)]


@router.get("/v1/accounts/{account_id}/secrets/{kind}")
async def get_secret(
    account_id: str, kind: SecretKind, handlers: Handlers, by: CurrentPrincipal
) -> SecretRead:
    return SecretRead.of(await handlers.get_secret(account_id, kind, by=by))


@router.post(
    "/v1/accounts/{account_id}/secrets/{kind}/check-out", status_code=status.HTTP_201_CREATED
)
async def check_out(
    account_id: str,
    kind: SecretKind,
    handlers: Handlers,
    by: CurrentPrincipal,
    body: CheckOutRequest | None = None,
) -> CheckOutRead:
    """Open a lease (owners and publishers with an active grant); the answer holds the secret
    (for TOTP the current code) and is the only place it is ever shown."""
    lease, given = await handlers.check_out(
        account_id, kind, minutes=body.minutes if body else None, by=by
    )
    return CheckOutRead(lease=LeaseRead.of(lease), secret=HandoutRead.of(given))


@router.post("/v1/leases/{lease_id}/check-in")
async def check_in(lease_id: str, handlers: Handlers, by: CurrentPrincipal) -> LeaseRead:
    return LeaseRead.of(await handlers.check_in(lease_id, by=by))


@router.get("/v1/leases/{lease_id}")
async def get_lease(lease_id: str, handlers: Handlers, by: CurrentPrincipal) -> LeaseRead:
    return LeaseRead.of(await handlers.get_lease(lease_id, by=by))


@router.get("/v1/accounts/{account_id}/leases")
async def lease_history(
    account_id: str,
    handlers: Handlers,
    by: CurrentPrincipal,
    holder_id: str | None = None,
    lease_status: Annotated[LeaseStatus | None, Query(alias="status")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LeasePage:
    """An account's leases, newest first (owners; admins and auditors over its unit)."""
    leases = await handlers.lease_history(
        account_id,
        holder_id=holder_id,
        status=lease_status,
        before=_decode_cursor(cursor) if cursor else None,
        limit=limit,
        by=by,
    )
    last = leases[-1] if len(leases) == limit else None
    return LeasePage(
        items=[LeaseRead.of(lease) for lease in leases],
        next_cursor=_encode_cursor(last) if last else None,
    )


class LeasesOfHolders(_Request):
    holder_ids: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=500
    )
    status: LeaseStatus | None = None
    limit: int = Field(default=50, ge=1, le=200, description="at most this many per holder")


class HolderLeases(BaseModel):
    holder_id: str
    leases: list[LeaseRead]


class LeasesByHolder(BaseModel):
    groups: list[HolderLeases] = Field(description="one per holder asked, in that order")


@router.post("/v1/leases/by-holders")
async def leases_by_holders(
    body: LeasesOfHolders, handlers: Handlers, by: CurrentPrincipal
) -> LeasesByHolder:
    """The leases of many people in one request, newest first (the gateway's DataLoaders):
    your own, and others' on accounts whose lease history you may read."""
    groups = await handlers.leases_of_holders(
        body.holder_ids, status=body.status, limit=body.limit, by=by
    )
    return LeasesByHolder(
        groups=[
            HolderLeases(holder_id=h, leases=[LeaseRead.of(x) for x in found])
            for h, found in groups.items()
        ]
    )


def _encode_cursor(lease: Lease) -> str:
    raw = f"{lease.checked_out_at.isoformat()}|{lease.id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, lease_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(at), lease_id
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ChorusError("the cursor is not one this API gave", code="invalid_cursor") from None
