"""Certification records in MongoDB: one document per employee, its events (acknowledged,
certification_changed, audit) in the same document's outbox, numbered by its sequence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chorus_kit.errors import Conflict
from chorus_kit.events.identity import EmploymentStatus, Role
from chorus_kit.mongo import DOCUMENT_LOCKS, IN_CHUNKS, insert_new, namespace_of
from chorus_kit.outbox import ensure_outbox_index, new_document_outbox, outbox_fields
from identity.domain.certification import CertificationRecord
from identity.domain.training import Completion

# What a page of records needs (never the outbox).
_WITHOUT_OUTBOX = {"outbox": 0}


class CertificationStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = database["certifications"]

    async def prepare(self) -> None:
        await self.collection.create_index([("unit_path", ASCENDING)], name="by_unit_path")
        await ensure_outbox_index(self.collection)

    async def find(self, employee_id: str) -> CertificationRecord | None:
        document = await self.collection.find_one({"_id": employee_id}, _WITHOUT_OUTBOX)
        return _record(document) if document else None

    async def find_many(self, employee_ids: Sequence[str]) -> dict[str, CertificationRecord]:
        found: dict[str, CertificationRecord] = {}
        for start in range(0, len(employee_ids), IN_CHUNKS):
            chunk = list(employee_ids[start : start + IN_CHUNKS])
            async for document in self.collection.find({"_id": {"$in": chunk}}, _WITHOUT_OUTBOX):
                found[document["_id"]] = _record(document)
        return found

    async def add(self, record: CertificationRecord) -> None:
        try:
            await self.collection.insert_one(
                {**_state(record), **new_document_outbox(record.pending_events)}
            )
        except DuplicateKeyError as exc:
            raise Conflict("the record was created meanwhile", code="concurrent_change") from exc

    async def add_many(self, records: Sequence[CertificationRecord]) -> set[str]:
        """Insert new records together; the ids inserted (the others existed already)."""
        if not records:
            return set()
        documents = [{**_state(r), **new_document_outbox(r.pending_events)} for r in records]
        existed = await insert_new(self.collection, documents)
        return {r.id for r in records} - existed

    async def save(self, record: CertificationRecord, *, expected_sequence: int) -> None:
        async with DOCUMENT_LOCKS.hold(namespace_of(self.collection), record.id):
            result = await self.collection.update_one(
                {"_id": record.id, "sequence": expected_sequence},
                {"$set": {**_state(record), **outbox_fields(record.pending_events)}},
            )
        if result.matched_count == 0:
            raise Conflict("the record changed meanwhile; retry", code="concurrent_change")

    async def page(self, *, after: str | None, limit: int) -> list[CertificationRecord]:
        """Every record, by id, from after `after` (a re-assessment walks them all)."""
        query: dict[str, Any] = {"_id": {"$gt": after}} if after else {}
        cursor = self.collection.find(query, _WITHOUT_OUTBOX).sort("_id", ASCENDING).limit(limit)
        return [_record(d) for d in await cursor.to_list()]

    async def unacknowledged(
        self, *, version: int, unit_id: str, after: str | None, limit: int
    ) -> list[CertificationRecord]:
        """Current staff of `unit_id`'s subtree who have not acknowledged `version`, by id."""
        clauses: list[dict[str, Any]] = [
            {"unit_path": unit_id},
            {"status": {"$ne": EmploymentStatus.OFFBOARDED.value}},
            {"acknowledged_versions": {"$ne": version}},
        ]
        if after:
            clauses.append({"_id": {"$gt": after}})
        cursor = (
            self.collection.find({"$and": clauses}, _WITHOUT_OUTBOX)
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        return [_record(d) for d in await cursor.to_list()]


def _state(record: CertificationRecord) -> dict[str, Any]:
    return {
        "_id": record.id,
        "status": record.status.value,
        "roles": sorted(r.value for r in record.roles),
        "unit_id": record.unit_id,
        "unit_path": list(record.unit_path),
        "given_name": record.given_name,
        "family_name": record.family_name,
        "email": record.email,
        "start_date": record.start_date,
        # Keys may not hold dots: versions as `v<n>`, and a plain list to query on.
        "acknowledgements": {f"v{v}": at for v, at in record.acknowledgements.items()},
        "acknowledged_versions": sorted(record.acknowledgements),
        "completions": {
            module_id: {
                "best_score": c.best_score,
                "passed": c.passed,
                "recorded_at": c.recorded_at,
            }
            for module_id, c in record.completions.items()
        },
        "certified": record.certified,
        "employee_sequence": record.employee_sequence,
    }


def _record(document: dict[str, Any]) -> CertificationRecord:
    return CertificationRecord(
        id=document["_id"],
        status=EmploymentStatus(document["status"]),
        roles=frozenset(Role(r) for r in document.get("roles", ())),
        unit_id=document["unit_id"],
        unit_path=tuple(document.get("unit_path", ())),
        given_name=document.get("given_name", ""),
        family_name=document.get("family_name", ""),
        email=document.get("email", ""),
        start_date=document.get("start_date"),
        acknowledgements={
            int(key.removeprefix("v")): at
            for key, at in (document.get("acknowledgements") or {}).items()
        },
        completions={
            module_id: Completion(
                module_id=module_id,
                best_score=int(c["best_score"]),
                passed=bool(c["passed"]),
                recorded_at=c["recorded_at"],
            )
            for module_id, c in (document.get("completions") or {}).items()
        },
        certified=bool(document.get("certified", False)),
        employee_sequence=int(document.get("employee_sequence", 0)),
        sequence=int(document.get("sequence", 0)),
    )
