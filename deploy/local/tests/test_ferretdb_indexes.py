"""Indexes on the local FerretDB, as Chorus patches it (chorus_local.ferretdb_patches, 9): a
non-unique index is recorded but not built in SQLite (v1 answers no filter but `_id` from
one), and everything a client sees of indexes stays as MongoDB shows it."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError


def _sqlite_indexes(infra, database: str, collection: str) -> set[str] | None:
    """The indexes SQLite holds for a collection of the local FerretDB (None elsewhere)."""
    if infra.ferretdb is None:
        return None
    path = infra.ferretdb.data_dir / f"{database}.sqlite"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (table,) = db.execute(
            "SELECT table_name FROM _ferretdb_collections WHERE name = ?", (collection,)
        ).fetchone()
        rows = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
        ).fetchall()
    return {name.removeprefix(f"{table}_") for (name,) in rows}


async def test_indexes_act_as_on_mongodb_and_only_unique_ones_are_built(ns, infra, mongo) -> None:
    name = ns.database("kit")
    docs = mongo[name]["indexed"]
    await docs.insert_many([{"_id": f"d{i}", "holder": f"p{i % 3}", "key": i} for i in range(30)])
    await docs.create_index([("holder", ASCENDING)], name="by_holder")
    await docs.create_index([("key", ASCENDING)], name="by_key", unique=True)

    listed = {i["name"]: i for i in await (await docs.list_indexes()).to_list()}
    assert set(listed) == {"_id_", "by_holder", "by_key"}
    assert listed["by_key"].get("unique") is True
    assert listed["by_holder"]["key"] == {"holder": 1}

    # Unique still refuses; the non-unique field still filters and follows updates.
    with pytest.raises(DuplicateKeyError):
        await docs.insert_one({"_id": "dup", "holder": "p0", "key": 7})
    await docs.update_many({"holder": "p1"}, {"$set": {"holder": "p9"}})
    assert await docs.count_documents({"holder": "p9"}) == 10
    assert await docs.count_documents({"holder": "p1"}) == 0

    built = _sqlite_indexes(infra, name, "indexed")
    if built is not None:
        assert "by_key" in built and "by_holder" not in built

    # Dropped and made again, whether it was built or not.
    await docs.drop_index("by_holder")
    assert "by_holder" not in {i["name"] for i in await (await docs.list_indexes()).to_list()}
    await docs.create_index([("holder", ASCENDING)], name="by_holder")
    assert "by_holder" in {i["name"] for i in await (await docs.list_indexes()).to_list()}
    await docs.drop_index("by_key")
    with pytest.raises(DuplicateKeyError):
        await docs.insert_one({"_id": "d0"})
    await docs.insert_one({"_id": "dup", "holder": "p0", "key": 7})
    assert await docs.count_documents({"key": 7}) == 2
