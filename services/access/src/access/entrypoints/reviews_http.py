"""Access reviews' REST API: start a campaign, decide its grants, read it and its report."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from access.domain.aggregate import utc_now
from access.domain.reports import csv_cell
from access.domain.reviews import (
    REPORT_COLUMNS,
    Decision,
    Outcome,
    Review,
    ReviewItem,
    ReviewStatus,
    UndecidedAction,
    report_row,
)
from access.review_handlers import ReviewHandlers
from chorus_kit.events.access import AccountRole
from chorus_kit.paging import decode_cursor, encode_cursor
from chorus_kit.web import CurrentPrincipal

CSV = "text/csv"


def _reviews(request: Request) -> ReviewHandlers:
    handlers: ReviewHandlers = request.app.state.reviews
    return handlers


Reviews = Annotated[ReviewHandlers, Depends(_reviews)]
router = APIRouter(tags=["reviews"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReviewStart(_Body):
    """A campaign over one unit's accounts (and its subtree's), or every account (no unit)."""

    unit_id: str | None = Field(default=None, min_length=1, max_length=64)
    deadline: AwareDatetime | None = None
    duration_seconds: int | None = Field(default=None, ge=1, le=366 * 86_400)
    undecided: UndecidedAction = Field(description="what happens to undecided grants")

    @model_validator(mode="after")
    def _one_end(self) -> ReviewStart:
        if (self.deadline is None) == (self.duration_seconds is None):
            raise ValueError("give a deadline or a duration_seconds, not both")
        return self

    def end(self, now: datetime) -> datetime:
        if self.deadline is not None:
            return self.deadline
        assert self.duration_seconds is not None
        return now + timedelta(seconds=self.duration_seconds)


class DecisionWrite(_Body):
    decision: Decision
    comment: str | None = Field(default=None, max_length=500)


class ReviewRead(BaseModel):
    id: str
    unit_id: str | None
    status: ReviewStatus
    deadline: datetime
    undecided: UndecidedAction
    started_by: str
    started_at: datetime
    items: int
    reminders_sent: int
    confirmed: int
    revoked: int
    undecided_count: int
    closed_at: datetime | None

    @classmethod
    def of(cls, review: Review) -> ReviewRead:
        return cls(
            id=review.id,
            unit_id=review.unit_id,
            status=review.status,
            deadline=review.deadline,
            undecided=review.undecided_action,
            started_by=review.started_by,
            started_at=review.started_at,
            items=review.items,
            reminders_sent=review.reminders_sent,
            confirmed=review.confirmed,
            revoked=review.revoked,
            undecided_count=review.undecided,
            closed_at=review.closed_at,
        )


class ItemRead(BaseModel):
    review_id: str
    grant_id: str
    account_id: str
    account_unit_id: str
    network: str
    handle: str
    holder_id: str
    role: AccountRole
    granted_at: datetime
    expires_at: datetime | None
    reviewers: list[str]
    decision: Decision | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    outcome: Outcome | None
    settled_at: datetime | None

    @classmethod
    def of(cls, item: ReviewItem) -> ItemRead:
        return cls(
            review_id=item.review_id,
            grant_id=item.grant_id,
            account_id=item.account_id,
            account_unit_id=item.account_unit_id,
            network=item.network,
            handle=item.handle,
            holder_id=item.holder_id,
            role=item.role,
            granted_at=item.granted_at,
            expires_at=item.expires_at,
            reviewers=list(item.reviewers),
            decision=item.decision,
            decided_by=item.decided_by,
            decided_at=item.decided_at,
            comment=item.comment,
            outcome=item.outcome,
            settled_at=item.settled_at,
        )


class ReviewQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: ReviewStatus | None = None
    to_review: bool = Field(default=False, description="only those I still have to decide in")
    after: str | None = Field(default=None, max_length=400)
    limit: int = Field(default=50, ge=1, le=200)


class ItemQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mine: bool = Field(default=False, description="only the grants I review")
    pending: bool = Field(default=False, description="only undecided grants")
    after: str | None = Field(default=None, max_length=400)
    limit: int = Field(default=100, ge=1, le=1000)


class ReviewPage(BaseModel):
    items: list[ReviewRead]
    next_cursor: str | None


class ItemPage(BaseModel):
    items: list[ItemRead]
    next_cursor: str | None


class ReviewReport(BaseModel):
    review: ReviewRead
    items: list[ItemRead]


@router.post("/v1/access-reviews", status_code=status.HTTP_201_CREATED)
async def start_review(body: ReviewStart, reviews: Reviews, by: CurrentPrincipal) -> ReviewRead:
    """Every grant active now on the unit's accounts becomes an item for the account's other
    owners to decide by the deadline."""
    review = await reviews.start_review(
        unit_id=body.unit_id, deadline=body.end(utc_now()), undecided=body.undecided, by=by
    )
    return ReviewRead.of(review)


@router.get("/v1/access-reviews")
async def list_reviews(
    reviews: Reviews, by: CurrentPrincipal, query: Annotated[ReviewQuery, Query()]
) -> ReviewPage:
    found = await reviews.list_reviews(
        by=by,
        status=query.status,
        to_review=query.to_review,
        after=decode_cursor(query.after),
        limit=query.limit,
    )
    return ReviewPage(
        items=[ReviewRead.of(r) for r in found],
        next_cursor=encode_cursor(found[-1].id) if len(found) == query.limit else None,
    )


@router.get("/v1/access-reviews/{review_id}")
async def get_review(review_id: str, reviews: Reviews, by: CurrentPrincipal) -> ReviewRead:
    return ReviewRead.of(await reviews.get_review(review_id, by=by))


@router.get("/v1/access-reviews/{review_id}/items")
async def list_review_items(
    review_id: str, reviews: Reviews, by: CurrentPrincipal, query: Annotated[ItemQuery, Query()]
) -> ItemPage:
    found = await reviews.list_items(
        review_id,
        by=by,
        mine=query.mine,
        pending_only=query.pending,
        after=decode_cursor(query.after),
        limit=query.limit,
    )
    return ItemPage(
        items=[ItemRead.of(i) for i in found],
        next_cursor=encode_cursor(found[-1].id) if len(found) == query.limit else None,
    )


class ItemsOfReviews(BaseModel):
    model_config = ConfigDict(extra="forbid")
    review_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=100
    )
    mine: bool = Field(default=False, description="only the grants I review")
    pending: bool = Field(default=False, description="only undecided grants")
    limit: int = Field(default=100, ge=1, le=1000, description="at most this many per review")


class ReviewItems(BaseModel):
    review_id: str
    items: list[ItemRead]
    next_cursor: str | None


class ItemsByReview(BaseModel):
    groups: list[ReviewItems] = Field(description="the reviews asked that you may read")


@router.post("/v1/access-reviews/items/by-reviews")
async def review_items_by_reviews(
    body: ItemsOfReviews, reviews: Reviews, by: CurrentPrincipal
) -> ItemsByReview:
    """The first page of items of many campaigns in one request (the gateway's DataLoaders)."""
    groups = await reviews.items_of_reviews(
        body.review_ids, by=by, mine=body.mine, pending_only=body.pending, limit=body.limit
    )
    return ItemsByReview(
        groups=[
            ReviewItems(
                review_id=r,
                items=[ItemRead.of(i) for i in found],
                next_cursor=encode_cursor(found[-1].id) if len(found) == body.limit else None,
            )
            for r, found in groups.items()
        ]
    )


@router.post("/v1/access-reviews/{review_id}/items/{grant_id}/decision")
async def decide_review_item(
    review_id: str, grant_id: str, body: DecisionWrite, reviews: Reviews, by: CurrentPrincipal
) -> ItemRead:
    """Confirm or revoke one grant (a reviewer of it, never its holder); `revoke` ends the
    grant at once."""
    item = await reviews.decide(review_id, grant_id, body.decision, by=by, comment=body.comment)
    return ItemRead.of(item)


def _csv(review: Review, items: list[ReviewItem]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REPORT_COLUMNS)
    for item in items:
        row = report_row(item)
        writer.writerow([csv_cell(row[c]) for c in REPORT_COLUMNS])
    return Response(
        buffer.getvalue(),
        media_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="access-review-{review.id}.csv"'},
    )


@router.get("/v1/access-reviews/{review_id}/report", response_model=ReviewReport)
async def review_report(
    review_id: str,
    reviews: Reviews,
    by: CurrentPrincipal,
    accept: Annotated[str, Header()] = "application/json",
) -> Response | ReviewReport:
    """Every grant of the campaign with its decision and outcome: JSON, or CSV with
    `Accept: text/csv` (admins and auditors over the unit)."""
    review, items = await reviews.report(review_id, by=by)
    if CSV in accept.lower():
        return _csv(review, items)
    return ReviewReport(review=ReviewRead.of(review), items=[ItemRead.of(i) for i in items])


@router.get("/v1/access-reviews/{review_id}/report.csv")
async def review_report_csv(review_id: str, reviews: Reviews, by: CurrentPrincipal) -> Response:
    review, items = await reviews.report(review_id, by=by)
    return _csv(review, items)
