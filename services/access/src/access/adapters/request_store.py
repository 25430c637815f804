"""The `access_requests` collection: requests, their decisions and their outbox.

An approval names the grant it makes (`grant_id`, `grant_pending: true`); the grant is a
second document written right after, and by the sweep if the approver's process died first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from access.domain.authorization import Visibility
from access.domain.grants import AccessRequest, RequestStatus
from chorus_kit.errors import NotFound
from chorus_kit.events.access import AccountRole
from chorus_kit.mongo import DOCUMENT_LOCKS, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields


class RequestStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["access_requests"]

    async def prepare(self) -> None:
        await ensure_outbox_index(self.collection)
        await self.collection.create_index([("requester_id", ASCENDING)], name="by_requester")
        await self.collection.create_index([("account_id", ASCENDING)], name="by_account")
        await self.collection.create_index([("grant_pending", ASCENDING)], name="grant_pending")

    async def add(self, request: AccessRequest) -> None:
        await self.collection.insert_one(
            {**_state(request), **new_document_outbox(request.pending_events)}
        )

    async def get(self, request_id: str) -> AccessRequest:
        document = await self.collection.find_one({"_id": request_id}, {"outbox": 0})
        if document is None:
            raise NotFound(f"no access request {request_id}", code="request_not_found")
        return _request(document)

    async def save(self, request: AccessRequest, *, expected_sequence: int) -> bool:
        """Store a decision and its events if the request was not decided meanwhile."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), request.id):
            result = await self.collection.update_one(
                {
                    "_id": request.id,
                    "sequence": expected_sequence,
                    "status": RequestStatus.PENDING.value,
                },
                {"$set": {**_state(request), **outbox_fields(request.pending_events)}},
            )
        return result.matched_count == 1

    async def grant_written(self, request_id: str, *, grant_id: str) -> None:
        """The approval's grant exists now (or the ownership it made does)."""
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), request_id):
            await self.collection.update_one(
                {"_id": request_id}, {"$set": {"grant_pending": False, "grant_id": grant_id}}
            )

    async def pending_of(
        self, *, requester_id: str, account_id: str, role: AccountRole
    ) -> AccessRequest | None:
        document = await self.collection.find_one(
            {
                "requester_id": requester_id,
                "account_id": account_id,
                "role": role.value,
                "status": RequestStatus.PENDING.value,
            },
            {"outbox": 0},
        )
        return _request(document) if document else None

    async def approvals_without_grant(
        self, *, decided_before: datetime, limit: int = 100
    ) -> list[AccessRequest]:
        cursor = self.collection.find(
            {"grant_pending": True, "decided_at": {"$lt": decided_before}}, {"outbox": 0}
        ).limit(limit)
        return [_request(d) for d in await cursor.to_list()]

    async def search(
        self,
        *,
        visibility: Visibility,
        status: RequestStatus | None,
        account_id: str | None,
        requester_id: str | None,
        decider_id: str | None,
        after: str | None,
        limit: int,
    ) -> list[AccessRequest]:
        clauses: list[dict[str, Any]] = [_visible(visibility)]
        if status is not None:
            clauses.append({"status": status.value})
        if account_id:
            clauses.append({"account_id": account_id})
        if requester_id:
            clauses.append({"requester_id": requester_id})
        if decider_id:
            clauses.append({"deciders": decider_id})
        if after:
            clauses.append({"_id": {"$gt": after}})
        cursor = (
            self.collection.find({"$and": clauses}, {"outbox": 0})
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        return [_request(d) for d in await cursor.to_list()]


def _visible(visibility: Visibility) -> dict[str, Any]:
    if visibility.reader_units is None:
        return {}
    return {
        "$or": [
            {"requester_id": visibility.person_id},
            {"account_id": {"$in": sorted(visibility.owned_accounts)}},
            {"account_unit_id": {"$in": sorted(visibility.reader_units)}},
        ]
    }


def _state(request: AccessRequest) -> dict[str, Any]:
    return {
        "_id": request.id,
        "account_id": request.account_id,
        "account_unit_id": request.account_unit_id,
        "requester_id": request.requester_id,
        "role": request.role.value,
        "justification": request.justification,
        "duration_seconds": request.duration_seconds,
        "deciders": list(request.deciders),
        "requested_at": request.requested_at,
        "status": request.status.value,
        "decided_at": request.decided_at,
        "decided_by": request.decided_by,
        "decision_reason": request.decision_reason,
        "grant_id": request.grant_id,
        "grant_expires_at": request.grant_expires_at,
        "grant_pending": request.grant_pending,
    }


def _request(document: dict[str, Any]) -> AccessRequest:
    return AccessRequest(
        id=document["_id"],
        account_id=document["account_id"],
        account_unit_id=document["account_unit_id"],
        requester_id=document["requester_id"],
        role=AccountRole(document["role"]),
        justification=document["justification"],
        duration_seconds=document.get("duration_seconds"),
        deciders=tuple(document.get("deciders", ())),
        requested_at=document["requested_at"],
        status=RequestStatus(document["status"]),
        decided_at=document.get("decided_at"),
        decided_by=document.get("decided_by"),
        decision_reason=document.get("decision_reason"),
        grant_id=document.get("grant_id"),
        grant_expires_at=document.get("grant_expires_at"),
        grant_pending=bool(document.get("grant_pending", False)),
        sequence=int(document.get("sequence", 0)),
    )
