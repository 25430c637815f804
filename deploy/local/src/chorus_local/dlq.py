"""Re-driving a dead-letter topic onto the topic its messages came from."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from chorus_kit.consumer import dlq_header, strip_dlq_headers
from chorus_kit.kafka import create_producer


async def replay_dead_letters(bootstrap: str, *, topic: str, group: str, prefix: str = "") -> int:
    """Republish every parked message not yet replayed, then remember how far we got.

    Progress is the committed offset of the group `<group>.dlq-replay`, so running it twice
    does not re-drive the same messages twice (and consumers are idempotent anyway).
    """
    dlq_topic = f"{prefix}{topic}.{group}.dlq"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}{group}.dlq-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = create_producer(bootstrap, client_id="chorus-dlq-replay")
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        await consumer._client.force_metadata_update()  # a fresh topic list  # noqa: SLF001
        partitions = [
            TopicPartition(dlq_topic, p) for p in consumer.partitions_for_topic(dlq_topic) or ()
        ]
        if not partitions:
            return 0
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=2000, max_records=500)
                for record in batch.get(tp, []):
                    headers = list(record.headers or ())
                    target = dlq_header(headers, "topic") or f"{prefix}{topic}"
                    await (
                        await producer.send(
                            target,
                            value=record.value,
                            key=record.key,
                            headers=strip_dlq_headers(headers),
                        )
                    )
                    replayed += 1
                    await consumer.commit({tp: record.offset + 1})
    finally:
        await producer.stop()
        await consumer.stop()
    return replayed
