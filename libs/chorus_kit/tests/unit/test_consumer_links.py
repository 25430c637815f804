"""A batch's consumer span links to the traces its events came from, once each."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from chorus_kit.consumer import MAX_LINKS, _links_to
from chorus_kit.events.envelope import Event


def traced(traceparent: str, n: int) -> Event:
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
