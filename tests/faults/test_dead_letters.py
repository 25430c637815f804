"""Messages that can never be applied are parked with their reason; the partition moves on."""

from __future__ import annotations

import json

import httpx

from chorus_kit.events.catalogue import EMPLOYEE, PLATFORM_ALERT
from chorus_kit.events.identity import Role
from chorus_local.dlq import replay_dead_letters
from tests.support.api import hire
from tests.support.kafka import produce_raw, read_topic
from tests.support.polling import eventually
from tests.support.schema_watch import EXPECT_INVALID

INVALID = (EXPECT_INVALID, b"1")


def _good_headers(
    event_type: bytes, subject: bytes, time: bytes = b"2026-11-23T10:00:00Z"
) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"bad-1"),
        ("ce_source", b"/test"),
        ("ce_type", event_type),
        ("ce_subject", subject),
        ("ce_time", time),
        ("ce_sequence", b"1"),
        ("content-type", b"application/json"),
        INVALID,
    ]


async def test_malformed_messages_are_dead_lettered_and_the_next_is_processed(ns, mongo) -> None:
    identity = ns.service("identity")
    identity.start()
    access = ns.service("access")
    access.start()
    topic = ns.topic(EMPLOYEE.name)
    hired = b"chorus.identity.employee.hired"
    # All on one key, so they share a partition with nothing but each other before the good one.
    await produce_raw(
        ns.infra.bootstrap,
        topic,
        [
            (b"k", b"{not json", _good_headers(hired, b"k")),
            (b"k", b"{}", _good_headers(b"chorus.identity.employee.teleported", b"k")),
            (
                b"k",
                json.dumps({"employee_id": "k", "email": 7}).encode(),
                _good_headers(hired, b"k"),
            ),
            # A time without an offset (the SDK's own error once escaped the parser).
            (
                b"k",
                json.dumps({"employee_id": "k", "email": "k@example.com"}).encode(),
                _good_headers(hired, b"k", time=b"2026-11-23T10:00:00"),
            ),
        ],
    )
    good = hire(identity.url, ns.token(Role.ADMIN, "company"), 1).json()

    dlq = f"{topic}.access.dlq"
    parked = await eventually(
        lambda: read_topic(ns.infra.bootstrap, dlq),
        lambda r: len(r) >= 4,
        what="four messages parked",
    )
    reasons = [dict(r.headers)["chorus_dlq_reason"] for r in parked]
    assert reasons == [b"unparseable", b"unknown-type", b"schema-violation", b"unparseable"]
    assert all(dict(r.headers)["chorus_dlq_topic"] == topic.encode() for r in parked)
    view = mongo[ns.database("access")]["employment"]
    await eventually(lambda: view.find_one({"_id": good["id"]}), what="the good message applied")

    alerts = await eventually(
        lambda: read_topic(ns.infra.bootstrap, ns.topic(PLATFORM_ALERT.name)),
        lambda r: len(r) >= 4,
        what="an alert per parked message",
    )
    assert {json.loads(a.value)["reason"] for a in alerts} == {
        "unparseable",
        "unknown-type",
        "schema-violation",
    }
    metrics = httpx.get(f"{access.url}/metrics").text
    assert (
        'chorus_dlq_messages_total{group="' + ns.topic_prefix + 'access",reason="unparseable"} 2.0'
        in metrics
    )

    # Replaying re-drives them onto the topic (they fail again, being still malformed).
    replayed = await replay_dead_letters(
        ns.infra.bootstrap, topic=EMPLOYEE.name, group="access", prefix=ns.topic_prefix
    )
    assert replayed == 4
    await eventually(
        lambda: read_topic(ns.infra.bootstrap, dlq),
        lambda r: len(r) == 8,
        what="replayed messages parked again",
    )
    # Replay remembers how far it got: only the four newly parked ones go again.
    assert (
        await replay_dead_letters(
            ns.infra.bootstrap, topic=EMPLOYEE.name, group="access", prefix=ns.topic_prefix
        )
        == 4
    )
