"""What callers ask access to do (validated at the edge, then handed to the use cases)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from chorus_kit.events.access import AccountRole, Classification
from chorus_kit.events.identity import SocialNetwork

_HANDLE = r"^@?[A-Za-z0-9._\-]{1,100}$"


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class RegisterAccount(_Command):
    network: SocialNetwork
    handle: str = Field(pattern=_HANDLE)
    url: HttpUrl | None = None
    unit_id: str = Field(min_length=1, max_length=64, description="the owning org unit")
    purpose: str | None = Field(default=None, max_length=500)
    classification: Classification
    owners: list[str] = Field(
        min_length=1, max_length=20, description="the first owners: active staff of the unit"
    )


class UpdateAccount(_Command):
    handle: str | None = Field(default=None, pattern=_HANDLE)
    url: HttpUrl | None = None
    purpose: str | None = Field(default=None, max_length=500)
    classification: Classification | None = None


class AddOwner(_Command):
    person_id: str = Field(min_length=1, max_length=200)


class RequestAccess(_Command):
    account_id: str = Field(min_length=1, max_length=200)
    role: AccountRole
    justification: str = Field(min_length=1, max_length=1000)
    duration_days: int | None = Field(default=None, ge=1, le=3650)
    duration_seconds: int | None = Field(default=None, ge=1, le=3650 * 86_400)

    @model_validator(mode="after")
    def _one_duration(self) -> RequestAccess:
        if self.duration_days is not None and self.duration_seconds is not None:
            raise ValueError("give duration_days or duration_seconds, not both")
        return self

    @property
    def seconds(self) -> int | None:
        if self.duration_days is not None:
            return self.duration_days * 86_400
        return self.duration_seconds


class Decide(_Command):
    reason: str | None = Field(default=None, max_length=500)


class RevokeGrant(_Command):
    reason: str = Field(min_length=1, max_length=500)
