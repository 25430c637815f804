"""Access's REST API (accounts, requests, grants, reports, audit): parse, call, shape."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import StreamingResponse

from access.domain.aggregate import utc_now
from access.domain.commands import (
    AddOwner,
    Decide,
    RegisterAccount,
    RequestAccess,
    RevokeGrant,
    UpdateAccount,
)
from access.domain.reports import ACCESS_REPORT_COLUMNS, AccessRow, csv_cell
from access.entrypoints.deps import Accounts, CurrentPrincipal, Grants, Mirrors, Reports
from access.entrypoints.schemas import (
    AccessReport,
    AccessReportQuery,
    AccessReportRow,
    AccessRequestRead,
    AccountBatch,
    AccountGrants,
    AccountPage,
    AccountQuery,
    AccountRead,
    BatchGet,
    DecisionRead,
    EmploymentRead,
    FormerStaffRead,
    FormerStaffReport,
    GrantPage,
    GrantQuery,
    GrantRead,
    GrantsByAccount,
    GrantsByHolder,
    GrantsOfAccounts,
    GrantsOfHolders,
    HolderGrants,
    RequestPage,
    RequestQuery,
)
from chorus_kit.auth import Principal
from chorus_kit.paging import AuditPage, AuditQuery, audit_page, decode_cursor, encode_cursor

router = APIRouter()
CSV = "text/csv"


def _next(ids: list[str], limit: int) -> str | None:
    return encode_cursor(ids[-1]) if len(ids) == limit else None


# --- employment (identity's view) ------------------------------------------------------------
@router.get("/v1/employment/{employee_id}")
async def get_employment(
    employee_id: str, handlers: Mirrors, by: CurrentPrincipal
) -> EmploymentRead:
    record = await handlers.get_employment(employee_id, by=by)
    return EmploymentRead(employee_id=record["_id"], **record)


# --- accounts ---------------------------------------------------------------------------------
@router.post("/v1/accounts", status_code=status.HTTP_201_CREATED)
async def register_account(
    body: RegisterAccount, accounts: Accounts, by: CurrentPrincipal
) -> AccountRead:
    return AccountRead.of(await accounts.register_account(body, by=by))


@router.get("/v1/accounts")
async def list_accounts(
    accounts: Accounts, by: CurrentPrincipal, query: Annotated[AccountQuery, Query()]
) -> AccountPage:
    found = await accounts.list_accounts(
        by=by,
        unit_id=query.unit_id,
        classification=query.classification,
        coverage_low=query.coverage_low,
        after=decode_cursor(query.after),
        limit=query.limit,
    )
    return AccountPage(
        items=[AccountRead.of(a) for a in found],
        next_cursor=_next([a.id for a in found], query.limit),
    )


@router.post("/v1/accounts/batch-get")
async def batch_get_accounts(
    body: BatchGet, accounts: Accounts, by: CurrentPrincipal
) -> AccountBatch:
    """Many accounts in one request (the gateway's DataLoaders)."""
    found = await accounts.get_accounts(body.ids, by=by)
    ids = {a.id for a in found}
    return AccountBatch(
        accounts=[AccountRead.of(a) for a in found],
        not_found=[i for i in dict.fromkeys(body.ids) if i not in ids],
    )


@router.get("/v1/accounts/{account_id}")
async def get_account(account_id: str, accounts: Accounts, by: CurrentPrincipal) -> AccountRead:
    return AccountRead.of(await accounts.get_account(account_id, by=by))


@router.patch("/v1/accounts/{account_id}")
async def update_account(
    account_id: str, body: UpdateAccount, accounts: Accounts, by: CurrentPrincipal
) -> AccountRead:
    return AccountRead.of(await accounts.update_account(account_id, body, by=by))


@router.post("/v1/accounts/{account_id}/owners")
async def add_owner(
    account_id: str, body: AddOwner, accounts: Accounts, by: CurrentPrincipal
) -> AccountRead:
    return AccountRead.of(await accounts.add_owner(account_id, body, by=by))


@router.delete("/v1/accounts/{account_id}/owners/{person_id}")
async def remove_owner(
    account_id: str,
    person_id: str,
    accounts: Accounts,
    by: CurrentPrincipal,
    reason: Annotated[str, Query(min_length=1, max_length=500)] = "removed by an admin",
) -> AccountRead:
    return AccountRead.of(await accounts.remove_owner(account_id, person_id, by=by, reason=reason))


# --- requests ---------------------------------------------------------------------------------
@router.post("/v1/access-requests", status_code=status.HTTP_201_CREATED)
async def request_access(
    body: RequestAccess, grants: Grants, by: CurrentPrincipal
) -> AccessRequestRead:
    """The caller asks for a role on an account; the account's other owners decide."""
    return AccessRequestRead.of(await grants.request_access(body, by=by))


@router.get("/v1/access-requests")
async def list_requests(
    grants: Grants, by: CurrentPrincipal, query: Annotated[RequestQuery, Query()]
) -> RequestPage:
    found = await grants.list_requests(
        by=by,
        status=query.status,
        account_id=query.account_id,
        requester_id=query.requester_id,
        to_decide=query.to_decide,
        after=decode_cursor(query.after),
        limit=query.limit,
    )
    return RequestPage(
        items=[AccessRequestRead.of(r) for r in found],
        next_cursor=_next([r.id for r in found], query.limit),
    )


@router.get("/v1/access-requests/{request_id}")
async def get_request(request_id: str, grants: Grants, by: CurrentPrincipal) -> AccessRequestRead:
    return AccessRequestRead.of(await grants.get_request(request_id, by=by))


@router.post("/v1/access-requests/{request_id}/approve")
async def approve_request(
    request_id: str, grants: Grants, by: CurrentPrincipal, body: Decide | None = None
) -> DecisionRead:
    request, grant = await grants.approve_request(
        request_id, by=by, reason=body.reason if body else None
    )
    now = utc_now()
    return DecisionRead(
        request=AccessRequestRead.of(request),
        grant=GrantRead.of(grant, now=now) if grant else None,
    )


@router.post("/v1/access-requests/{request_id}/deny")
async def deny_request(
    request_id: str, grants: Grants, by: CurrentPrincipal, body: Decide | None = None
) -> DecisionRead:
    request = await grants.deny_request(request_id, by=by, reason=body.reason if body else None)
    return DecisionRead(request=AccessRequestRead.of(request), grant=None)


# --- grants -----------------------------------------------------------------------------------
@router.get("/v1/grants")
async def list_grants(
    grants: Grants, by: CurrentPrincipal, query: Annotated[GrantQuery, Query()]
) -> GrantPage:
    found = await grants.list_grants(
        by=by,
        account_id=query.account_id,
        holder_id=query.holder_id,
        active_only=query.active_only,
        after=decode_cursor(query.after),
        limit=query.limit,
    )
    now = utc_now()
    return GrantPage(
        items=[GrantRead.of(g, now=now) for g in found],
        next_cursor=_next([g.id for g in found], query.limit),
    )


@router.post("/v1/grants/by-holders")
async def grants_by_holders(
    body: GrantsOfHolders, grants: Grants, by: CurrentPrincipal
) -> GrantsByHolder:
    """The grants of many people in one request (the gateway's DataLoaders)."""
    groups = await grants.grants_by(
        "holder_id", body.holder_ids, by=by, active_only=body.active_only
    )
    now = utc_now()
    return GrantsByHolder(
        groups=[
            HolderGrants(holder_id=h, grants=[GrantRead.of(g, now=now) for g in found])
            for h, found in groups.items()
        ]
    )


@router.post("/v1/grants/by-accounts")
async def grants_by_accounts(
    body: GrantsOfAccounts, grants: Grants, by: CurrentPrincipal
) -> GrantsByAccount:
    """The grants of many accounts in one request (the gateway's DataLoaders)."""
    groups = await grants.grants_by(
        "account_id", body.account_ids, by=by, active_only=body.active_only
    )
    now = utc_now()
    return GrantsByAccount(
        groups=[
            AccountGrants(account_id=a, grants=[GrantRead.of(g, now=now) for g in found])
            for a, found in groups.items()
        ]
    )


@router.get("/v1/grants/{grant_id}")
async def get_grant(grant_id: str, grants: Grants, by: CurrentPrincipal) -> GrantRead:
    return GrantRead.of(await grants.get_grant(grant_id, by=by), now=utc_now())


@router.post("/v1/grants/{grant_id}/revoke")
async def revoke_grant(
    grant_id: str, body: RevokeGrant, grants: Grants, by: CurrentPrincipal
) -> GrantRead:
    return GrantRead.of(
        await grants.revoke_grant(grant_id, by=by, reason=body.reason), now=utc_now()
    )


# --- reports ----------------------------------------------------------------------------------
async def _report_rows(
    reports: Reports, by: Principal, query: AccessReportQuery, at: datetime
) -> list[AccessRow]:
    return await reports.access_at(
        by=by,
        at=at,
        unit_id=query.unit_id,
        account_id=query.account_id,
        holder_id=query.holder_id,
        after=decode_cursor(query.after),
        limit=query.limit,
    )


async def _csv_response(
    reports: Reports, by: Principal, query: AccessReportQuery, at: datetime
) -> Response:
    """Every row the caller may see at `at` (paged through here, streamed out)."""
    first = await _report_rows(reports, by, query, at)  # authorisation fails before streaming

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(ACCESS_REPORT_COLUMNS)
        page = first
        while True:
            for row in page:
                cells = row.cells()
                writer.writerow([csv_cell(cells[c]) for c in ACCESS_REPORT_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(page) < query.limit:
                return
            page = await reports.access_at(
                by=by,
                at=at,
                unit_id=query.unit_id,
                account_id=query.account_id,
                holder_id=query.holder_id,
                after=page[-1].grant.id,
                limit=query.limit,
            )

    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        lines(),
        media_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="access-{stamp}.csv"'},
    )


@router.get("/v1/reports/access", response_model=AccessReport)
async def access_report(
    reports: Reports,
    by: CurrentPrincipal,
    query: Annotated[AccessReportQuery, Query()],
    accept: Annotated[str, Header()] = "application/json",
) -> Response | AccessReport:
    """Who has (or had, with `at`) which access: JSON, or CSV with `Accept: text/csv`."""
    at = query.at or utc_now()
    if CSV in accept.lower():
        return await _csv_response(reports, by, query, at)
    rows = await _report_rows(reports, by, query, at)
    return AccessReport(
        at=at,
        items=[AccessReportRow.of(r) for r in rows],
        next_cursor=_next([r.grant.id for r in rows], query.limit),
    )


@router.get("/v1/reports/access.csv", response_class=StreamingResponse)
async def access_report_csv(
    reports: Reports, by: CurrentPrincipal, query: Annotated[AccessReportQuery, Query()]
) -> Response:
    return await _csv_response(reports, by, query, query.at or utc_now())


@router.get("/v1/reports/former-staff-with-access")
async def former_staff_with_access(reports: Reports, by: CurrentPrincipal) -> FormerStaffReport:
    """People who left yet hold access (open grants, unacknowledged network revocations).
    Must be empty; a checker alerts when it is not."""
    entries = await reports.former_staff(by=by)
    now = utc_now()
    return FormerStaffReport(
        people=[FormerStaffRead.of(e, now=now) for e in entries],
        open_grants=sum(len(e.open_grants) for e in entries),
        unacknowledged_connector_calls=sum(e.pending_connector_revocations for e in entries),
    )


# --- audit ------------------------------------------------------------------------------------
@router.get("/v1/audit")
async def read_audit_log(
    reports: Reports, by: CurrentPrincipal, query: Annotated[AuditQuery, Query()]
) -> AuditPage:
    """Access's privileged actions, newest first: auditors and admins, for their units."""
    return await audit_page(
        query,
        lambda before, limit: reports.read_audit(
            by=by, before=before, limit=limit, **query.filters()
        ),
    )
