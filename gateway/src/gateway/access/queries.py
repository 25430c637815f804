"""Access's queries: accounts, my access, requests to decide, reviews, the access report,
former staff with access, access's audit log.

Each forwards the caller's token; access narrows every answer to what the caller may see
and refuses the rest (a typed `Forbidden` or `NotFound`, never an error).
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from chorus_kit.events.access import Classification
from gateway.access.types import (
    AccessReport,
    AccessReportResult,
    AccessReportRow,
    AccessRequest,
    AccessRequestPage,
    AccessRequestPageResult,
    AccessReview,
    AccessReviewItem,
    AccessReviewItemPage,
    AccessReviewPage,
    AccessReviewPageResult,
    AccessReviewStatus,
    Account,
    AccountConnection,
    AccountConnectionResult,
    AccountEdge,
    AccountResult,
    FormerStaffReport,
    FormerStaffResult,
    MyAccess,
    cursor_of,
)
from gateway.access.visibility import Kind, not_found, read_refusal
from gateway.clients.backend import BackendProblem, BackendUnavailable
from gateway.context import Info
from gateway.identity.types import AuditLogPage, AuditLogResult, wants_units
from gateway.pagination import MAX_PAGE, PageInfo
from gateway.permissions import may_read_audit_log
from gateway.problems import Forbidden, ProblemResult, from_backend, invalid

REPORT_PAGE_MAX = 1000
AUDIT_PAGE_MAX = 200


def _page_size(first: int, most: int = MAX_PAGE) -> ProblemResult | None:
    if not 1 <= first <= most:
        return invalid(f"first must be between 1 and {most}", code="bad_page_size", path="first")
    return None


def _page_info(next_cursor: str | None, after: str | None, ids: list[str]) -> PageInfo:
    return PageInfo(
        has_next_page=next_cursor is not None,
        has_previous_page=after is not None,
        start_cursor=cursor_of(ids[0]) if ids else None,
        end_cursor=cursor_of(ids[-1]) if ids else None,
    )


async def review_items(
    info: Info, review_id: str, *, first: int, after: str | None, mine: bool, pending: bool
) -> AccessReviewItemPage | ProblemResult:
    """A review's items: a first page through the request's loader (one access call for
    every review of the level), a later page (`after`) by a call of its own."""
    if (bad := _page_size(first)) is not None:
        return bad
    try:
        if after is None:
            page = await info.context.access.review_items.load((review_id, first, mine, pending))
        else:
            page = await info.context.services.access.review_items(
                info.context.bearer, review_id, limit=first, after=after, mine=mine, pending=pending
            )
    except (BackendUnavailable, BackendProblem) as exc:
        return read_refusal(exc, Kind.REVIEW)
    if page is None:  # left out of the batch: unknown, or not the caller's to read
        return not_found(Kind.REVIEW)
    items = page.get("items", [])
    next_cursor = page.get("next_cursor")
    return AccessReviewItemPage(
        nodes=[AccessReviewItem.of(i) for i in items],
        page_info=PageInfo(
            has_next_page=next_cursor is not None,
            has_previous_page=after is not None,
            start_cursor=None,
            end_cursor=next_cursor,
        ),
    )


@strawberry.type
class AccessQuery:
    @strawberry.field(
        description="Accounts you may see (staff see their units' register; owners and "
        "grant holders their accounts), in id order.",
        metadata={"cost": 2},
    )
    async def accounts(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        unit_id: strawberry.ID | None = None,
        classification: Classification | None = None,
        coverage_low: bool | None = None,
    ) -> AccountConnectionResult:
        if (bad := _page_size(first)) is not None:
            return bad
        context = info.context
        if wants_units(info):
            context.identity.prefetch_tree()
        try:
            page = await context.services.access.list_accounts(
                context.bearer,
                limit=first,
                after=after,
                unit_id=unit_id,
                classification=classification.value if classification else None,
                coverage_low=coverage_low,
            )
        except (BackendUnavailable, BackendProblem) as exc:
            return from_backend(exc)
        items = page.get("items", [])
        context.access.prime_accounts(items)
        return AccountConnection(
            edges=[AccountEdge(cursor=cursor_of(a["id"]), node=Account.of(a)) for a in items],
            page_info=_page_info(page.get("next_cursor"), after, [a["id"] for a in items]),
        )

    @strawberry.field(description="One account, if you may see it.", metadata={"cost": 1})
    async def account(self, info: Info, id: strawberry.ID) -> AccountResult:
        try:
            raw = await info.context.services.access.get_account(info.context.bearer, str(id))
        except (BackendUnavailable, BackendProblem) as exc:
            return read_refusal(exc, Kind.ACCOUNT)
        info.context.access.remember_account(raw)
        return Account.of(raw)

    @strawberry.field(description="Your own grants, check-outs and requests.")
    def my_access(self, info: Info) -> MyAccess:
        return MyAccess(person_id=strawberry.ID(info.context.viewer.sub))

    @strawberry.field(
        description="Pending requests on accounts you own, awaiting your decision.",
        metadata={"cost": 2},
    )
    async def access_requests_to_decide(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> AccessRequestPageResult:
        if (bad := _page_size(first)) is not None:
            return bad
        try:
            page = await info.context.services.access.list_requests(
                info.context.bearer, to_decide=True, status="pending", limit=first, after=after
            )
        except (BackendUnavailable, BackendProblem) as exc:
            return from_backend(exc)
        items = page.get("items", [])
        return AccessRequestPage(
            nodes=[AccessRequest.of(r) for r in items],
            page_info=_page_info(page.get("next_cursor"), after, [r["id"] for r in items]),
        )

    @strawberry.field(
        description="Review campaigns you may see (`toReview`: those you still have grants "
        "to decide in).",
        metadata={"cost": 2},
    )
    async def access_reviews(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        status: AccessReviewStatus | None = None,
        to_review: bool = False,
    ) -> AccessReviewPageResult:
        if (bad := _page_size(first)) is not None:
            return bad
        try:
            page = await info.context.services.access.list_reviews(
                info.context.bearer,
                limit=first,
                after=after,
                status=status.value if status else None,
                to_review=to_review,
            )
        except (BackendUnavailable, BackendProblem) as exc:
            return from_backend(exc)
        items = page.get("items", [])
        return AccessReviewPage(
            nodes=[AccessReview.of(r) for r in items],
            page_info=_page_info(page.get("next_cursor"), after, [r["id"] for r in items]),
        )

    @strawberry.field(
        description="Who has (or had, at `at`) which access, for the units you administer "
        "or audit.",
        metadata={"cost": 5},
    )
    async def access_report(
        self,
        info: Info,
        at: datetime | None = None,
        unit_id: strawberry.ID | None = None,
        account_id: strawberry.ID | None = None,
        holder_id: strawberry.ID | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> AccessReportResult:
        if (bad := _page_size(first, REPORT_PAGE_MAX)) is not None:
            return bad
        if at is not None and at.tzinfo is None:
            return invalid("`at` needs a time zone", code="naive_datetime", path="at")
        try:
            page = await info.context.services.access.access_report(
                info.context.bearer,
                at=at.isoformat() if at else None,
                unit_id=unit_id,
                account_id=account_id,
                holder_id=holder_id,
                limit=first,
                after=after,
            )
        except (BackendUnavailable, BackendProblem) as exc:
            return from_backend(exc)
        rows = page.get("items", [])
        return AccessReport(
            at=datetime.fromisoformat(page["at"]),
            rows=[AccessReportRow.of(r) for r in rows],
            page_info=_page_info(page.get("next_cursor"), after, [r["grant_id"] for r in rows]),
        )

    @strawberry.field(
        description="People who left yet hold access (admins and auditors; must be empty).",
        metadata={"cost": 5},
    )
    async def former_staff_with_access(self, info: Info) -> FormerStaffResult:
        try:
            raw = await info.context.services.access.former_staff_with_access(info.context.bearer)
        except (BackendUnavailable, BackendProblem) as exc:
            return from_backend(exc)
        return FormerStaffReport.of(raw)

    @strawberry.field(
        description="Access's privileged actions, newest first (auditors and admins, for "
        "the units they cover).",
        metadata={"cost": 2},
    )
    async def access_audit_log(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
    ) -> AuditLogResult:
        if not may_read_audit_log(info.context.viewer):
            return Forbidden(message="the audit log is for auditors and admins", code="not_auditor")
        if (bad := _page_size(first, AUDIT_PAGE_MAX)) is not None:
            return bad
        try:
            page = await info.context.services.access.read_audit_log(
                info.context.bearer,
                limit=first,
                after=after,
                actor=actor,
                action=action,
                target_id=target_id,
            )
        except (BackendUnavailable, BackendProblem) as exc:
            return from_backend(exc)
        return AuditLogPage.of(page, after=after)


__all__ = ["AccessQuery", "review_items"]
