"""Reading one partition of a compacted topic to its end, committed records only.

Used when the validation stage takes over a partition: its dedupe memory is
rebuilt from what was *committed* to ``shop.dedupe``.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, TopicPartition


def read_partition(bootstrap: str, topic: str, partition: int,
                   timeout: float = 120.0) -> dict[bytes, bytes | None]:
    """Latest value per key (``None`` for a tombstone) in one partition, up to its end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "enable.partition.eof": True})
    try:
        tp = TopicPartition(topic, partition)
        low, high = consumer.get_watermark_offsets(tp, timeout=30)
        state: dict[bytes, bytes | None] = {}
        if high <= low:
            return state
        consumer.assign([TopicPartition(topic, partition, low)])
        deadline = time.monotonic() + timeout
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
