"""Applying events to a view exactly once, one by one and in batches, on the real database."""

from __future__ import annotations

from chorus_kit.mongo import apply_in_order, apply_many_in_order, insert_new


def push(event_id: str) -> dict[str, object]:
    return {"$set": {"last_event": event_id}, "$push": {"history": event_id}}


async def test_redelivered_and_older_events_change_nothing(ns, mongo) -> None:
    view = mongo[ns.database("kit")]["view"]
    assert await apply_in_order(view, aggregate_id="a", sequence=1, update=push("e1"))
    assert await apply_in_order(view, aggregate_id="a", sequence=2, update=push("e2"))
    assert not await apply_in_order(view, aggregate_id="a", sequence=2, update=push("e2"))
    assert not await apply_in_order(view, aggregate_id="a", sequence=1, update=push("e1"))
    doc = await view.find_one({"_id": "a"})
    assert doc is not None and doc["history"] == ["e1", "e2"] and doc["last_sequence"] == 2


async def test_a_batch_applies_each_event_once_and_in_order(ns, mongo) -> None:
    view = mongo[ns.database("kit")]["view"]
    await apply_in_order(view, aggregate_id="old", sequence=1, update=push("o1"))
    batch = [
        ("a", 1, push("a1")),
        ("b", 1, push("b1")),
        ("a", 2, push("a2")),  # same aggregate again: applied after a1
        ("old", 1, push("o1")),  # redelivered
        ("old", 2, push("o2")),
        ("c", 3, push("c3")),  # a view may start mid-history (events before it expired)
    ]
    assert await apply_many_in_order(view, batch) == 5
    assert await apply_many_in_order(view, batch) == 0  # the whole batch redelivered
    docs = {d["_id"]: d["history"] for d in await view.find().to_list()}
    assert docs == {"a": ["a1", "a2"], "b": ["b1"], "old": ["o1", "o2"], "c": ["c3"]}


async def test_inserting_again_names_what_was_there_and_adds_the_rest(ns, mongo) -> None:
    entries = mongo[ns.database("kit")]["entries"]
    assert await insert_new(entries, [{"_id": "a", "n": 1}, {"_id": "b", "n": 1}]) == set()
    # More than one wire batch of PyMongo's, so the refused indexes must map across batches.
    again = [{"_id": "b", "n": 2}, *({"_id": f"new{i}", "n": 2} for i in range(1200))]
    again.append({"_id": "a", "n": 2})
    assert await insert_new(entries, again) == {"a", "b"}
    assert await entries.count_documents({}) == 1202
    assert await entries.count_documents({"n": 1}) == 2  # what was there is left as it was
    assert await insert_new(entries, []) == set()


async def test_later_events_on_many_documents_apply_once_whether_or_not_read_before(
    ns, mongo
) -> None:
    view = mongo[ns.database("kit")]["many"]
    ids = [f"p{i:04d}" for i in range(1200)]  # more than one bulk and one `$in` chunk
    assert await apply_many_in_order(view, [(i, 1, push(f"{i}-1")) for i in ids]) == 1200
    seconds = [(i, 2, push(f"{i}-2")) for i in ids]
    # The caller read half of them; the rest (and one that does not exist) are looked up.
    mid_history = ("late", 4, push("late-4"))
    assert await apply_many_in_order(view, [*seconds[:600], mid_history]) == 601
    assert await apply_many_in_order(view, seconds, existing=ids[:600]) == 600
    assert await apply_many_in_order(view, seconds, existing=ids) == 0  # redelivered
    assert await apply_many_in_order(view, seconds) == 0
    docs = {d["_id"]: d for d in await view.find().to_list()}
    assert len(docs) == 1201 and docs["late"]["history"] == ["late-4"]
    assert all(docs[i]["history"] == [f"{i}-1", f"{i}-2"] for i in ids)
    assert all(docs[i]["last_sequence"] == 2 for i in ids)
