"""Trace context across batches: a consumer's batch span links to the traces its events
came from, once each; the relay opens one producer span per run of events of one trace."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from chorus_kit.consumer import MAX_LINKS, _links_to
from chorus_kit.events.envelope import Event
from chorus_kit.outbox import _runs_by_trace


def traced(traceparent: str | None, n: int) -> Event:
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


def parent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def test_events_of_one_trace_give_one_link() -> None:
    parents = [parent() for _ in range(3)]
    events = [traced(parents[n % 3], n) for n in range(300)]

    links = _links_to(events)

    assert [f"{link.context.trace_id:032x}" for link in links] == [p.split("-")[1] for p in parents]


def test_links_stop_at_the_span_limit() -> None:
    events = [traced(parent(), n) for n in range(MAX_LINKS + 50)]

    links = _links_to(events)

    assert len(links) == MAX_LINKS
    assert f"{links[-1].context.trace_id:032x}" == events[MAX_LINKS - 1].traceparent.split("-")[1]


A = "00-" + "a" * 32 + "-" + "1" * 16 + "-01"
B = "00-" + "b" * 32 + "-" + "2" * 16 + "-01"


def test_events_of_one_write_share_one_run() -> None:
    batch = [("doc-1", [(n, traced(A, n)) for n in range(1, 13)])]

    runs = list(_runs_by_trace(batch))

    assert [(tp, [e.id for e in run]) for tp, run in runs] == [(A, [f"e{n}" for n in range(1, 13)])]


def test_runs_follow_the_order_of_sending_across_documents() -> None:
    # A trace that comes back after another is a new run: the sending order is kept.
    batch = [
        ("doc-1", [(1, traced(A, 1)), (2, traced(A, 2))]),
        ("doc-2", [(1, traced(A, 3)), (2, traced(B, 4))]),
        ("doc-3", [(1, traced(None, 5)), (2, traced(None, 6)), (3, traced(A, 7))]),
    ]

    runs = list(_runs_by_trace(batch))

    assert [(tp, [e.id for e in run]) for tp, run in runs] == [
        (A, ["e1", "e2", "e3"]),
        (B, ["e4"]),
        (None, ["e5", "e6"]),
        (A, ["e7"]),
    ]
    assert [e.id for _, run in runs for e in run] == [f"e{n}" for n in range(1, 8)]
