"""Applying events to a view exactly once, one by one and in batches, on the real database."""

from __future__ import annotations

from chorus_kit.mongo import apply_in_order, apply_many_in_order


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
