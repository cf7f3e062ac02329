"""Reading one partition of a compacted topic to its end, committed records only.

Used when a stage takes over a partition: its state (the dedupe memory, the live state,
the trending scores) is rebuilt from what was *committed* to its changelog.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition


def read_partition(bootstrap: str, topic: str, partition: int,
                   timeout: float = 120.0) -> dict[bytes, bytes | None]:
    """Latest value per key (``None`` for a tombstone) in one partition, up to its end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "enable.partition.eof": True})
    try:
        tp = TopicPartition(topic, partition)
        started = time.monotonic()
        deadline = started + timeout
        while True:  # a topic just created may not have its partition leader yet
            try:
                low, high = consumer.get_watermark_offsets(tp, timeout=30)
                break
            except KafkaException:  # (NOT_LEADER_FOR_PARTITION is not flagged retriable)
                if time.monotonic() > min(deadline, started + 60):
                    raise
                time.sleep(0.5)
        state: dict[bytes, bytes | None] = {}
        if high <= low:
            return state
        consumer.assign([TopicPartition(topic, partition, low)])
        while consumer.position([tp])[0].offset < high:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}[{partition}] took over {timeout:.0f}s")
            for message in consumer.consume(10_000, timeout=0.5):
                key = message.key()
                if message.error() is None and key is not None:
                    state[key] = message.value()
        return state
    finally:
        consumer.close()
