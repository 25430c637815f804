"""Crashes inside the windows that matter: nothing lost, nothing applied twice.

Each test first proves the fault hit the window it aims at, then kills the process with
SIGKILL and restarts it, and counts what would visibly double (events on the topic,
entries in access's employment history), not states that look the same when applied twice.
"""

from __future__ import annotations

from aiokafka import TopicPartition

from chorus_kit.events.catalogue import EMPLOYEE
from chorus_kit.events.identity import Role
from tests.support.api import hire
from tests.support.kafka import committed_offsets, end_offset_total, read_topic
from tests.support.polling import eventually


async def test_identity_killed_between_database_write_and_publish(ns, mongo) -> None:
    identity = ns.service("identity", faults="relay.before_publish")
    identity.start()
    access = ns.service("access")
    access.start()
    topic = ns.topic(EMPLOYEE.name)
    response = hire(identity.url, ns.token(Role.ADMIN, "company"), 1)
    assert response.status_code == 201
    employee_id = response.json()["id"]

    # The window: the event is committed with the employee, and Kafka has not seen it.
    employees = mongo[ns.database("identity")]["employees"]
    stored = await employees.find_one({"_id": employee_id})
    # Two events wait: `hired`, and the audit entry of the hire.
    assert stored is not None and stored["outbox_pending"] and len(stored["outbox"]) == 2
    assert await end_offset_total(ns.infra.bootstrap, topic) == 0

    identity.kill()
    identity.env["CHORUS_FAULTS"] = ""
    identity.start()

    records = await eventually(
        lambda: read_topic(ns.infra.bootstrap, topic),
        lambda r: len(r) >= 1,
        what="the committed event published after restart",
    )
    assert len(records) == 1
    assert (
        dict(records[0].headers)["ce_id"].decode()
        == stored["outbox"][next(iter(stored["outbox"]))]["id"]
    )
    view = mongo[ns.database("access")]["employment"]
    applied = await eventually(lambda: view.find_one({"_id": employee_id}))
    assert len(applied["history"]) == 1


async def test_access_killed_after_applying_and_before_committing(ns, mongo) -> None:
    identity = ns.service("identity")
    identity.start()
    access = ns.service("access", faults="consumer.after_apply")
    access.start()
    employee_id = hire(identity.url, ns.token(), 1).json()["id"]
    view = mongo[ns.database("access")]["employment"]
    topic = ns.topic(EMPLOYEE.name)

    # The window: the effect is applied, the offset of its message is not committed.
    applied = await eventually(lambda: view.find_one({"_id": employee_id}), what="effect applied")
    assert len(applied["history"]) == 1
    (record,) = await read_topic(ns.infra.bootstrap, topic)
    group = f"{ns.topic_prefix}access"
    tp = TopicPartition(topic, record.partition)
    assert (await committed_offsets(ns.infra.bootstrap, group)).get(tp, -1) <= record.offset

    access.kill()
    access.env["CHORUS_FAULTS"] = ""
    access.start()

    # The restarted consumer gets the message again, handles it, and commits past it ...
    await eventually(
        lambda: committed_offsets(ns.infra.bootstrap, group),
        lambda offsets: offsets.get(tp, -1) == record.offset + 1,
        what="offset committed after redelivery",
    )
    # ... without applying it a second time.
    again = await view.find_one({"_id": employee_id})
    assert again is not None and len(again["history"]) == 1
