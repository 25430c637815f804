"""The social media policy in MongoDB: one document per policy holding every version, its
events riding in the same document's outbox."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chorus_kit.errors import Conflict
from chorus_kit.mongo import DOCUMENT_LOCKS, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields
from identity.domain.policies import POLICY_ID, Policy, PolicyVersion


class PolicyStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["policies"]

    async def prepare(self) -> None:
        await ensure_outbox_index(self.collection)

    async def get(self, policy_id: str = POLICY_ID) -> Policy:
        """The policy; one with no versions if none was ever published."""
        document = await self.collection.find_one({"_id": policy_id}, {"outbox": 0})
        return _policy(document) if document else Policy(id=policy_id)

    async def save(self, policy: Policy, *, expected_sequence: int) -> None:
        """Store a new version if nobody published one meanwhile."""
        if expected_sequence == 0:
            try:
                await self.collection.insert_one(
                    {**_state(policy), **new_document_outbox(policy.pending_events)}
                )
            except DuplicateKeyError as exc:
                raise Conflict(
                    "the policy changed meanwhile; retry", code="concurrent_change"
                ) from exc
            return
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), policy.id):
            result = await self.collection.update_one(
                {"_id": policy.id, "sequence": expected_sequence},
                {"$set": {**_state(policy), **outbox_fields(policy.pending_events)}},
            )
        if result.matched_count == 0:
            raise Conflict("the policy changed meanwhile; retry", code="concurrent_change")


def _state(policy: Policy) -> dict[str, Any]:
    return {
        "_id": policy.id,
        "versions": [
            {
                "version": v.version,
                "title": v.title,
                "body_markdown": v.body_markdown,
                "grace_period_days": v.grace_period_days,
                "effective_at": v.effective_at,
                "acknowledge_by": v.acknowledge_by,
                "published_by": v.published_by,
            }
            for v in policy.versions
        ],
    }


def _policy(document: dict[str, Any]) -> Policy:
    return Policy(
        id=document["_id"],
        versions=tuple(
            PolicyVersion(
                version=int(v["version"]),
                title=v["title"],
                body_markdown=v["body_markdown"],
                grace_period_days=int(v["grace_period_days"]),
                effective_at=v["effective_at"],
                acknowledge_by=v["acknowledge_by"],
                published_by=v["published_by"],
            )
            for v in document.get("versions", ())
        ),
        sequence=int(document.get("sequence", 0)),
    )
