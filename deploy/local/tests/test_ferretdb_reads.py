"""The local FerretDB, as Chorus patches it (chorus_local.ferretdb_patches), reads back what
was written: its documents are decoded by Chorus's own splitter and scalar parsers, with
each distinct schema decoded once, falling back to the stock decoder for anything unusual."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.regex import Regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Keys as FerretDB v1 accepts and stores them faithfully (it writes keys unescaped, so a
# quote or backslash in a key breaks the stock build too).
keys = st.text(
    st.characters(categories=["L", "N"], include_characters="_- é日", exclude_characters="\x00"),
    min_size=1,
    max_size=8,
)
# Values: anything JSON would have to escape, numbers at their edges, all scalar types.
scalars = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    st.sampled_from(['"', "\\", "a\\u0041", "}{", "],[", ":", "\x01", "\u2028", "<>&", "é日🙂"]),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
    ),
    st.binary(max_size=8),
    st.builds(ObjectId),
)
# No array directly in an array: FerretDB v1 refuses nested arrays.
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(scalars | st.dictionaries(keys, inner, max_size=4), max_size=4)
        | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=12,
)
documents = st.dictionaries(keys, values, max_size=8)


def test_documents_of_every_shape_read_back_as_written(ns, infra) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(infra.mongo_uri)
    collection = client[ns.database("kit")]["shapes"]
    written: dict[int, dict[str, Any]] = {}

    @settings(
        max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(documents)
    def round_trip(document: dict[str, Any]) -> None:
        document = {**document, "_id": len(written)}
        collection.insert_one(document)
        written[document["_id"]] = document
        # Twice: the second read decodes with the schema the first one cached.
        for _ in range(2):
            assert collection.find_one({"_id": document["_id"]}) == document

    try:
        round_trip()
        # All at once too (one cursor, the schemas of many shapes in turn).
        assert {d["_id"]: d for d in collection.find({})} == written
    finally:
        client.close()


async def test_many_documents_of_one_shape_read_back_each_its_own(ns, mongo) -> None:
    # One schema, cached at the first document, serves the 2,000 others: each keeps its values.
    docs = mongo[ns.database("kit")]["one_shape"]
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    await docs.insert_many(
        [
            {"_id": f"g{i}", "holder": f"p{i}", "n": i, "at": now, "open": i % 2 == 0}
            for i in range(2000)
        ]
    )
    got = await asyncio.wait_for(docs.find({}).to_list(), 60)
    assert sorted(got, key=lambda d: d["n"]) == [
        {"_id": f"g{i}", "holder": f"p{i}", "n": i, "at": now, "open": i % 2 == 0}
        for i in range(2000)
    ]


async def test_in_with_many_values_matches_what_each_value_would(ns, mongo) -> None:
    # Patch 8 answers `$in` on a string field from a set of the array's strings; arrays with
    # a regex or a document, fields holding arrays and other types take the stock path.
    docs = mongo[ns.database("kit")]["in_sets"]
    values: list[Any] = [f"v{i}" for i in range(40)] + [7, None, "", "é日", "v1 "]
    await docs.insert_many(
        [{"_id": f"s{i}", "tag": v} for i, v in enumerate(values)]
        + [
            {"_id": "list", "tag": ["x", "v3"]},
            {"_id": "number-as-text", "tag": "7"},
            {"_id": "missing"},
        ]
    )

    async def ids(query: dict[str, Any]) -> set[str]:
        return {d["_id"] for d in await docs.find(query, {"_id": 1}).to_list()}

    wanted = [f"v{i}" for i in range(0, 40, 2)] + ["", "é日", 7, "nope"]
    expected = {f"s{i}" for i in range(0, 40, 2)} | {"s40", "s42", "s43"}
    assert await ids({"tag": {"$in": wanted}}) == expected
    assert await ids({"_id": {"$in": sorted(expected) + [f"x{i}" for i in range(20)]}}) == expected
    # The same array for thousands of documents (one cached set), each its own answer.
    many = [f"v{i}" for i in range(3, 40, 3)] + [f"w{i}" for i in range(20)]
    assert await ids({"tag": {"$in": many}}) == {f"s{i}" for i in range(3, 40, 3)} | {"list"}
    # Stock path: a regex among the values, or null matching the missing field.
    with_regex = [*(f"w{i}" for i in range(20)), Regex("^v3")]
    assert await ids({"tag": {"$in": with_regex}}) == {"s3", "s30", "s31", "s32"} | {
        "s33",
        "s34",
        "s35",
        "s36",
        "s37",
        "s38",
        "s39",
        "list",
    }
    with_null = [*(f"w{i}" for i in range(20)), None]
    assert await ids({"tag": {"$in": with_null}}) == {"s41", "missing"}
