"""The local FerretDB, as Chorus patches it (chorus_local.ferretdb_patches), under concurrent
writes like a batch of leavers makes: every command finishes and each applies once."""

from __future__ import annotations

import asyncio

from pymongo import AsyncMongoClient, ReturnDocument

WRITERS = 300  # over the server's 100 pooled SQLite connections
DEADLINE_S = 60  # about a second when it works; a hang never ends


async def test_hundreds_of_concurrent_single_document_writes_all_finish(ns, infra) -> None:
    # Each of these reads first and writes after. Patched to queue writers on a lock, the
    # server once kept every `update_one`'s read (and its pooled connection) open while it
    # waited for the lock, so the lock's holder never got a connection: 100 such writers
    # hung the server for good.
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        infra.mongo_uri, maxPoolSize=WRITERS
    )
    try:
        docs = client[ns.database("kit")]["writes"]
        await docs.insert_many([{"_id": f"d{i}", "n": 0} for i in range(3 * WRITERS)])

        async def write(i: int) -> None:
            updated = await docs.update_one({"_id": f"d{i}", "n": 0}, {"$set": {"n": 1}})
            assert updated.modified_count == 1
            after = await docs.find_one_and_update(
                {"_id": f"d{WRITERS + i}"}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER
            )
            assert after is not None and after["n"] == 1
            assert await docs.find_one_and_delete({"_id": f"d{2 * WRITERS + i}"}) is not None

        await asyncio.wait_for(asyncio.gather(*(write(i) for i in range(WRITERS))), DEADLINE_S)
        assert await docs.count_documents({"n": 1}) == 2 * WRITERS
        assert await docs.count_documents({}) == 2 * WRITERS
    finally:
        await client.close()


async def test_an_update_of_many_documents_writes_each_once(ns, mongo) -> None:
    # The patched server writes what one command modifies in one transaction.
    docs = mongo[ns.database("kit")]["many"]
    await docs.insert_many([{"_id": f"d{i}", "n": 0, "even": i % 2 == 0} for i in range(500)])
    result = await docs.update_many(
        {"_id": {"$in": [f"d{i}" for i in range(500)]}, "even": True}, {"$inc": {"n": 1}}
    )
    assert (result.matched_count, result.modified_count) == (250, 250)
    counts = {d["_id"]: d["n"] for d in await docs.find({}, {"n": 1}).to_list()}
    assert sum(counts.values()) == 250
    assert all(counts[f"d{i}"] == (1 if i % 2 == 0 else 0) for i in range(500))
