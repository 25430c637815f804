"""Reports over grants: who had access when, and the list that must stay empty (former staff
who still hold access, in Chorus or on a network whose connector has not confirmed)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from access.domain.grants import Grant

OFFBOARDED = "offboarded"


@dataclass(frozen=True)
class AccessRow:
    """One line of the access report: a grant, its account and its holder."""

    grant: Grant
    network: str | None
    handle: str | None
    holder_email: str | None
    holder_status: str | None

    def cells(self) -> dict[str, object]:
        g = self.grant
        return {
            "account_id": g.account_id,
            "network": self.network,
            "handle": self.handle,
            "account_unit_id": g.account_unit_id,
            "holder_id": g.holder_id,
            "holder_email": self.holder_email,
            "holder_status": self.holder_status,
            "role": g.role.value,
            "grant_id": g.id,
            "granted_at": g.granted_at,
            "granted_by": g.granted_by,
            "expires_at": g.expires_at,
            "revoked_at": g.revoked_at,
        }


@dataclass(frozen=True)
class FormerStaffEntry:
    person_id: str
    email: str | None
    unit_id: str | None
    employed_until: datetime | None
    open_grants: tuple[Grant, ...]
    pending_connector_revocations: int


def former_staff_with_access(
    *,
    employment: Mapping[str, Mapping[str, Any]],
    open_grants: Iterable[Grant],
    pending_connector_revocations: Mapping[str, int],
) -> list[FormerStaffEntry]:
    """People whose employment ended yet who hold an open grant or whose revocation on a
    network is unacknowledged. `employment` holds the view's records of the people concerned
    (anyone absent from it is not known to have left)."""
    grants_by_person: dict[str, list[Grant]] = {}
    for grant in open_grants:
        grants_by_person.setdefault(grant.holder_id, []).append(grant)
    people = set(grants_by_person) | {p for p, n in pending_connector_revocations.items() if n}
    entries = []
    for person_id in sorted(people):
        record = employment.get(person_id)
        if record is None or record.get("status") != OFFBOARDED:
            continue
        entries.append(
            FormerStaffEntry(
                person_id=person_id,
                email=record.get("email"),
                unit_id=record.get("unit_id"),
                employed_until=record.get("employed_until"),
                open_grants=tuple(sorted(grants_by_person.get(person_id, ()), key=lambda g: g.id)),
                pending_connector_revocations=pending_connector_revocations.get(person_id, 0),
            )
        )
    return entries


def situation_signature(entries: Sequence[FormerStaffEntry]) -> str:
    """Names one situation (who, which grants, how many calls pending): the alert fires once
    per distinct situation, however often the checker sees it."""
    text = ";".join(
        f"{e.person_id}:{','.join(g.id for g in e.open_grants)}:{e.pending_connector_revocations}"
        for e in sorted(entries, key=lambda e: e.person_id)
    )
    return hashlib.sha256(text.encode()).hexdigest()


ACCESS_REPORT_COLUMNS = (
    "account_id",
    "network",
    "handle",
    "account_unit_id",
    "holder_id",
    "holder_email",
    "holder_status",
    "role",
    "grant_id",
    "granted_at",
    "granted_by",
    "expires_at",
    "revoked_at",
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: values that would start a formula get a `'`."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
