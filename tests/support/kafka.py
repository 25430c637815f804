"""Reading topics and group offsets in tests, over a real broker."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from chorus_kit.kafka import create_producer


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    await consumer._client.force_metadata_update()  # a topic created a moment ago  # noqa: SLF001
    return [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]


async def read_topic(bootstrap: str, topic: str, *, timeout_ms: int = 1000) -> list[ConsumerRecord]:
    """Everything on a topic right now, from the beginning (partitions concatenated)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            partitions = [
                TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())
            ]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord] = []
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=timeout_ms)
                records += batch.get(tp, [])
        return records
    finally:
        await consumer.stop()


async def commit_group_at_end(bootstrap: str, group: str, topic: str) -> None:
    """Commit `group`'s offsets at the end of `topic`, as if it had handled everything."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        assert partitions, f"{topic} has no partitions"
        consumer.assign(partitions)
        await consumer.commit(dict(await consumer.end_offsets(partitions)))
    finally:
        await consumer.stop()


async def end_offset_total(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001
        partitions = [
            TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())
        ]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        return sum(ends.values())
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


async def produce_raw(
    bootstrap: str,
    topic: str,
    messages: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]],
) -> None:
    producer = create_producer(bootstrap, client_id="test-producer")
    await producer.start()
    try:
        for key, value, headers in messages:
            await (await producer.send(topic, key=key, value=value, headers=headers))
    finally:
        await producer.stop()
