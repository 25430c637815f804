"""Access reviews in MongoDB: campaigns (`access_reviews`) and their items
(`access_review_items`), each an aggregate with its outbox; the decisions as first recorded
(`access_review_decisions`: one insert per item, which makes a decision the only one on
every database); and the claimed turns of reminders and closings (`access_review_claims`).

What a campaign covers is read from the core's `accounts` and `grants` collections (the
shapes the access brief fixes): grants active at the start, as an interval query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from access.adapters.effect_claims import TurnClaims
from access.adapters.grant_store import active_at_filter
from access.domain.aggregate import utc_now
from access.domain.reviews import (
    Decision,
    DecisionRecord,
    GrantAtStart,
    Outcome,
    Review,
    ReviewItem,
    ReviewStatus,
    UndecidedAction,
)
from chorus_kit.errors import NotFound
from chorus_kit.events.access import AccountRole
from chorus_kit.mongo import DOCUMENT_LOCKS, IN_CHUNKS, insert_new, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields

INSERT_CHUNK = 500


class ReviewStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.reviews: AsyncCollection[dict[str, Any]] = database["access_reviews"]
        self.items: AsyncCollection[dict[str, Any]] = database["access_review_items"]
        self.decisions: AsyncCollection[dict[str, Any]] = database["access_review_decisions"]
        self.claims = TurnClaims(database["access_review_claims"])
        self._accounts: AsyncCollection[dict[str, Any]] = database["accounts"]
        self._grants: AsyncCollection[dict[str, Any]] = database["grants"]

    async def prepare(self) -> None:
        await ensure_outbox_index(self.reviews)
        await ensure_outbox_index(self.items)
        await self.reviews.create_index(
            [("status", ASCENDING), ("next_check_at", ASCENDING)], name="due"
        )
        await self.items.create_index([("review_id", ASCENDING)], name="by_review")
        await self.items.create_index([("reviewers", ASCENDING)], name="by_reviewer")
        await self.decisions.create_index(
            [("applied", ASCENDING), ("decided_at", ASCENDING)], name="unapplied"
        )
        await self.claims.prepare()

    # --- campaigns ----------------------------------------------------------------------------
    async def add_review(self, review: Review) -> None:
        await self.reviews.insert_one(
            {**_review_state(review), **new_document_outbox(review.pending_events)}
        )

    async def get(self, review_id: str) -> Review:
        document = await self.reviews.find_one({"_id": review_id}, {"outbox": 0})
        if document is None:
            raise NotFound(f"no access review {review_id}", code="review_not_found")
        return _review(document)

    async def save_review(
        self, review: Review, *, expected_sequence: int, expected_status: ReviewStatus
    ) -> bool:
        async with DOCUMENT_LOCKS.hold(namespace_of(self.reviews), review.id):
            result = await self.reviews.update_one(
                {
                    "_id": review.id,
                    "sequence": expected_sequence,
                    "status": expected_status.value,
                },
                {"$set": {**_review_state(review), **outbox_fields(review.pending_events)}},
            )
        return result.matched_count == 1

    async def due(self, *, now: datetime, limit: int = 50) -> list[Review]:
        cursor = self.reviews.find(
            {"status": ReviewStatus.OPEN.value, "next_check_at": {"$lte": now}}, {"outbox": 0}
        ).limit(limit)
        return [_review(d) for d in await cursor.to_list()]

    async def starting_before(self, at: datetime, *, limit: int = 20) -> list[Review]:
        cursor = self.reviews.find(
            {"status": ReviewStatus.STARTING.value, "started_at": {"$lt": at}}, {"outbox": 0}
        ).limit(limit)
        return [_review(d) for d in await cursor.to_list()]

    async def search(
        self,
        *,
        units: set[str] | None,
        ids: Sequence[str] | None,
        status: ReviewStatus | None,
        after: str | None,
        limit: int,
    ) -> list[Review]:
        """Newest first. `units`: campaigns over those units (None: every campaign, the
        company-wide ones included); `ids`: also those campaigns, whatever their unit."""
        visible: list[dict[str, Any]] = []
        if units is None:
            visible.append({})
        else:
            visible.append({"unit_id": {"$in": sorted(units)}})
        if ids:
            visible.append({"_id": {"$in": list(ids)}})
        clauses: list[dict[str, Any]] = [{"$or": visible}]
        if status is not None:
            clauses.append({"status": status.value})
        else:
            clauses.append({"status": {"$ne": ReviewStatus.STARTING.value}})
        if after:
            last = await self.reviews.find_one({"_id": after}, {"started_at": 1})
            if last is not None:
                at = last["started_at"]
                clauses.append(
                    {
                        "$or": [
                            {"started_at": {"$lt": at}},
                            {"started_at": at, "_id": {"$lt": after}},
                        ]
                    }
                )
        cursor = (
            self.reviews.find({"$and": clauses}, {"outbox": 0})
            .sort([("started_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [_review(d) for d in await cursor.to_list()]

    # --- what a campaign covers ---------------------------------------------------------------
    async def grants_at_start(self, unit_ids: set[str] | None, at: datetime) -> list[GrantAtStart]:
        """Grants active at `at` on the active accounts of `unit_ids` (None: every unit)."""
        account_filter: dict[str, Any] = {"status": "active"}
        if unit_ids is not None:
            account_filter["unit_id"] = {"$in": sorted(unit_ids)}
        accounts = {
            d["_id"]: d
            for d in await self._accounts.find(
                account_filter, {"network": 1, "handle": 1, "unit_id": 1}
            ).to_list()
        }
        ids = sorted(accounts)
        found: list[GrantAtStart] = []
        for start in range(0, len(ids), IN_CHUNKS):
            cursor = self._grants.find(
                {"account_id": {"$in": ids[start : start + IN_CHUNKS]}, **active_at_filter(at)},
                {"outbox": 0},
            )
            for grant in await cursor.to_list():
                account = accounts[grant["account_id"]]
                found.append(
                    GrantAtStart(
                        grant_id=grant["_id"],
                        account_id=grant["account_id"],
                        account_unit_id=account["unit_id"],
                        network=account["network"],
                        handle=account["handle"],
                        holder_id=grant["holder_id"],
                        role=AccountRole(grant["role"]),
                        granted_at=grant["granted_at"],
                        expires_at=grant.get("expires_at"),
                    )
                )
        return found

    async def open_grants(self, grant_ids: Sequence[str]) -> set[str]:
        """Those of `grant_ids` active now."""
        found = await self._grants.find(
            {"_id": {"$in": list(grant_ids)}, **active_at_filter(utc_now())}, {"_id": 1}
        ).to_list()
        return {d["_id"] for d in found}

    # --- items --------------------------------------------------------------------------------
    async def add_items(self, items: Sequence[ReviewItem]) -> None:
        """Insert the items; those written before (a start finished twice) stay as they are."""
        documents = [{**_item_state(i), **new_document_outbox(i.pending_events)} for i in items]
        for start in range(0, len(documents), INSERT_CHUNK):
            await insert_new(self.items, documents[start : start + INSERT_CHUNK])

    async def count_items(self, review_id: str) -> int:
        return await self.items.count_documents({"review_id": review_id})

    async def get_item(self, review_id: str, grant_id: str) -> ReviewItem:
        document = await self.items.find_one({"_id": f"{review_id}:{grant_id}"}, {"outbox": 0})
        if document is None:
            raise NotFound("no such grant in this review", code="review_item_not_found")
        return _item(document)

    async def items_of(
        self,
        review_id: str,
        *,
        reviewer: str | None = None,
        pending_only: bool = False,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[ReviewItem]:
        """By item id; `reviewer`: only those they review; `pending_only`: undecided."""
        query: dict[str, Any] = {"review_id": review_id}
        if reviewer is not None:
            query["reviewers"] = reviewer
        if pending_only:
            query["decision"] = None
            query["outcome"] = None
        if after:
            query["_id"] = {"$gt": after}
        cursor = self.items.find(query, {"outbox": 0}).sort("_id", ASCENDING)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [_item(d) for d in await cursor.to_list()]

    async def reviews_pending_for(self, reviewer: str) -> list[str]:
        found = await self.items.find(
            {"reviewers": reviewer, "decision": None, "outcome": None}, {"review_id": 1}
        ).to_list()
        return sorted({d["review_id"] for d in found})

    async def save_decided(self, item: ReviewItem, *, expected_sequence: int) -> bool:
        """Store a decision and its events if the item is still undecided."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self.items), item.id):
            result = await self.items.update_one(
                {"_id": item.id, "sequence": expected_sequence, "decision": None},
                {"$set": {**_item_state(item), **outbox_fields(item.pending_events)}},
            )
        return result.matched_count == 1

    async def settle(self, item_id: str, outcome: Outcome, *, at: datetime) -> bool:
        async with DOCUMENT_LOCKS.hold(namespace_of(self.items), item_id):
            result = await self.items.update_one(
                {"_id": item_id, "outcome": None},
                {"$set": {"outcome": outcome.value, "settled_at": at}},
            )
        return result.matched_count == 1

    # --- decisions as recorded ----------------------------------------------------------------
    async def record_decision(self, record: DecisionRecord) -> bool:
        """True if this is the item's decision; False if one was recorded before."""
        try:
            await self.decisions.insert_one({**_decision_state(record), "applied": False})
        except DuplicateKeyError:
            return False
        return True

    async def get_decision(self, item_id: str) -> DecisionRecord | None:
        document = await self.decisions.find_one({"_id": item_id})
        return _decision(document) if document else None

    async def decision_applied(self, item_id: str) -> None:
        await self.decisions.update_one({"_id": item_id}, {"$set": {"applied": True}})

    async def unapplied_decisions(
        self, *, before: datetime, limit: int = 100
    ) -> list[DecisionRecord]:
        cursor = self.decisions.find({"applied": False, "decided_at": {"$lt": before}}).limit(limit)
        return [_decision(d) for d in await cursor.to_list()]


def _review_state(review: Review) -> dict[str, Any]:
    return {
        "_id": review.id,
        "unit_id": review.unit_id,
        "deadline": review.deadline,
        "undecided_action": review.undecided_action.value,
        "started_by": review.started_by,
        "started_at": review.started_at,
        "reminder_fractions": list(review.reminder_fractions),
        "status": review.status.value,
        "reminders_sent": review.reminders_sent,
        "items": review.items,
        "confirmed": review.confirmed,
        "revoked": review.revoked,
        "undecided": review.undecided,
        "closed_at": review.closed_at,
        "next_check_at": review.next_check_at,
    }


def _review(document: dict[str, Any]) -> Review:
    return Review(
        id=document["_id"],
        unit_id=document.get("unit_id"),
        deadline=document["deadline"],
        undecided_action=UndecidedAction(document["undecided_action"]),
        started_by=document["started_by"],
        started_at=document["started_at"],
        reminder_fractions=tuple(float(f) for f in document.get("reminder_fractions", ())),
        status=ReviewStatus(document["status"]),
        reminders_sent=int(document.get("reminders_sent", 0)),
        items=int(document.get("items", 0)),
        confirmed=int(document.get("confirmed", 0)),
        revoked=int(document.get("revoked", 0)),
        undecided=int(document.get("undecided", 0)),
        closed_at=document.get("closed_at"),
        sequence=int(document.get("sequence", 0)),
    )


def _item_state(item: ReviewItem) -> dict[str, Any]:
    return {
        "_id": item.id,
        "review_id": item.review_id,
        "grant_id": item.grant_id,
        "account_id": item.account_id,
        "account_unit_id": item.account_unit_id,
        "network": item.network,
        "handle": item.handle,
        "holder_id": item.holder_id,
        "role": item.role.value,
        "granted_at": item.granted_at,
        "expires_at": item.expires_at,
        "reviewers": list(item.reviewers),
        "decision": item.decision.value if item.decision else None,
        "decided_by": item.decided_by,
        "decided_at": item.decided_at,
        "comment": item.comment,
        "outcome": item.outcome.value if item.outcome else None,
        "settled_at": item.settled_at,
    }


def _item(document: dict[str, Any]) -> ReviewItem:
    return ReviewItem(
        id=document["_id"],
        review_id=document["review_id"],
        grant_id=document["grant_id"],
        account_id=document["account_id"],
        account_unit_id=document["account_unit_id"],
        network=document["network"],
        handle=document["handle"],
        holder_id=document["holder_id"],
        role=AccountRole(document["role"]),
        granted_at=document["granted_at"],
        expires_at=document.get("expires_at"),
        reviewers=tuple(document.get("reviewers", ())),
        decision=Decision(document["decision"]) if document.get("decision") else None,
        decided_by=document.get("decided_by"),
        decided_at=document.get("decided_at"),
        comment=document.get("comment"),
        outcome=Outcome(document["outcome"]) if document.get("outcome") else None,
        settled_at=document.get("settled_at"),
        sequence=int(document.get("sequence", 0)),
    )


def _decision_state(record: DecisionRecord) -> dict[str, Any]:
    return {
        "_id": record.item_id,
        "review_id": record.review_id,
        "grant_id": record.grant_id,
        "decision": record.decision.value if record.decision else None,
        "decided_by": record.decided_by,
        "decided_at": record.decided_at,
        "comment": record.comment,
    }


def _decision(document: dict[str, Any]) -> DecisionRecord:
    return DecisionRecord(
        item_id=document["_id"],
        review_id=document["review_id"],
        grant_id=document["grant_id"],
        decision=Decision(document["decision"]) if document.get("decision") else None,
        decided_by=document["decided_by"],
        decided_at=document["decided_at"],
        comment=document.get("comment"),
    )
