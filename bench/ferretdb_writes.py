"""`make bench-ferretdb`: concurrent writes on the local FerretDB as Chorus builds it
(deploy/local/src/chorus_local/ferretdb_patches.py: `all`) against the same build with the
`_id` index fixes only (`index`, the patches 3-9 left out), in the same run.

The load is a batch of leavers' shape, without the services: WRITERS concurrent writers
(one asyncio client), each round an `update_many` of 5 documents by `_id` (a leaver's
grants) then an `insert_many` of 13 (claims, plan, completion, audit entries), on a
collection of 60,000 documents with three secondary indexes, for SECONDS per server. Each
server starts empty on its own port; the `index` build is made once (about a minute) and
kept under var/tools/ferretdb. (Stock FerretDB is not compared: without the `_id` fixes
every one of these updates reads the whole collection.) Also measured: one writer alone
(no contention), to show what the write patches change when nobody waits.

Figures: rounds per second and the p50/p99 of a round, for each build and writer count,
and `all_over_index` at WRITERS. The machine is shared and noisy: compare the ratio.
The last line is one JSON object of the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient

from bench._infra import REPO
from chorus_local.infra import FerretDB, InfraLayout

WRITERS = int(os.environ.get("BENCH_WRITERS", "64"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
DOCUMENTS = 60_000


@contextmanager
def ferretdb(level: str) -> Iterator[str]:
    """A fresh server built with the patches of `level`; its MongoDB URI."""
    layout = InfraLayout.ephemeral(REPO, f"bench-ferretdb-{level}")
    before = os.environ.get("CHORUS_FERRETDB_PATCHES")
    os.environ["CHORUS_FERRETDB_PATCHES"] = level
    server = FerretDB(layout, lambda message: print(f"# {message}", flush=True))
    try:
        server.start()
    finally:
        if before is None:
            del os.environ["CHORUS_FERRETDB_PATCHES"]
        else:
            os.environ["CHORUS_FERRETDB_PATCHES"] = before
    try:
        yield server.uri
    finally:
        server.stop()
        shutil.rmtree(layout.root, ignore_errors=True)


def grant(i: int) -> dict[str, Any]:
    return {
        "_id": f"g{i}",
        "holder_id": f"p{i // 5}",
        "account_id": f"a{i % 100}",
        "role": "publisher",
        "granted_at": "2026-01-01T00:00:00Z",
        "expires_at": None,
        "revoked_at": None,
        "sequence": 1,
        "outbox_pending": False,
    }


async def rounds(uri: str, writers: int) -> dict[str, float]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, maxPoolSize=writers)
    try:
        database = client["bench"]
        grants, audit = database["grants"], database["audit"]
        for field in ("holder_id", "account_id", "expires_at"):
            await grants.create_index([(field, ASCENDING)])
        for start in range(0, DOCUMENTS, 1000):
            await grants.insert_many([grant(i) for i in range(start, start + 1000)])
        latencies: list[float] = []
        next_leaver = 0
        deadline = time.monotonic() + SECONDS

        async def writer() -> None:
            nonlocal next_leaver
            while time.monotonic() < deadline:
                leaver, next_leaver = next_leaver, next_leaver + 1
                ids = [f"g{(leaver * 5 + k) % DOCUMENTS}" for k in range(5)]
                began = time.perf_counter()
                await grants.update_many(
                    {"_id": {"$in": ids}},
                    {"$set": {"revoked_at": "2026-12-07T00:00:00Z"}, "$inc": {"sequence": 2}},
                )
                await audit.insert_many(
                    [{"_id": str(uuid.uuid4()), "subject": ids[k % 5], "n": k} for k in range(13)]
                )
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        elapsed = time.perf_counter() - began
        latencies.sort()
        return {
            "rounds_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        }
    finally:
        await client.close()


def main() -> None:
    figures: dict[str, Any] = {"writers": WRITERS, "seconds_each": SECONDS}
    for level in ("index", "all"):
        for writers in (1, WRITERS):
            with ferretdb(level) as uri:
                measured = asyncio.run(rounds(uri, writers))
            for key, value in measured.items():
                figures[f"{level}_{writers}w_{key}"] = value
            print(
                f"{level}, {writers} writer(s): {measured['rounds_per_s']} rounds/s, "
                f"p50 {measured['p50_ms']} ms, p99 {measured['p99_ms']} ms",
                flush=True,
            )
    for writers, name in ((WRITERS, "all_over_index"), (1, "all_over_index_1w")):
        figures[name] = round(
            figures[f"all_{writers}w_rounds_per_s"] / figures[f"index_{writers}w_rounds_per_s"], 2
        )
    print(
        f"all / index at {WRITERS} writers: {figures['all_over_index']}; "
        f"one writer: {figures['all_over_index_1w']} (shared, noisy machine)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
