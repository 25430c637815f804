"""The relay opens one producer span per run of events that share a trace, in order."""

from __future__ import annotations

from datetime import UTC, datetime

from chorus_kit.events.envelope import Event
from chorus_kit.outbox import _runs_by_trace

A = "00-" + "a" * 32 + "-" + "1" * 16 + "-01"
B = "00-" + "b" * 32 + "-" + "2" * 16 + "-01"


def event(n: int, traceparent: str | None) -> Event:
    return Event(
        id=f"e{n}",
        type="chorus.access.grant.revoked",
        source="/chorus/access",
        subject=f"g{n}",
        time=datetime(2026, 12, 7, tzinfo=UTC),
        sequence=1,
        data={},
        traceparent=traceparent,
    )


def test_events_of_one_write_share_one_run() -> None:
    batch = [("doc-1", [(n, event(n, A)) for n in range(1, 13)])]

    runs = list(_runs_by_trace(batch))

    assert [(parent, [e.id for e in run]) for parent, run in runs] == [
        (A, [f"e{n}" for n in range(1, 13)])
    ]


def test_runs_follow_the_order_of_sending_across_documents() -> None:
    # A trace that comes back after another is a new run: the sending order is kept.
    batch = [
        ("doc-1", [(1, event(1, A)), (2, event(2, A))]),
        ("doc-2", [(1, event(3, A)), (2, event(4, B))]),
        ("doc-3", [(1, event(5, None)), (2, event(6, None)), (3, event(7, A))]),
    ]

    runs = list(_runs_by_trace(batch))

    assert [(parent, [e.id for e in run]) for parent, run in runs] == [
        (A, ["e1", "e2", "e3"]),
        (B, ["e4"]),
        (None, ["e5", "e6"]),
        (A, ["e7"]),
    ]
    assert [e.id for _, run in runs for e in run] == [f"e{n}" for n in range(1, 8)]
