"""The dedupe memory of the validation stage: which messageIds a partition has seen.

Pure bookkeeping; the agent persists every change to a compacted Kafka topic
(``<prefix>shop.dedupe``) inside the same transaction as the event's output,
and rebuilds a partition's memory from that topic when it takes the partition
over. Time is event time: the window is measured back from the latest event
time seen on the partition, so a replay of old traffic dedupes exactly as the
live run did.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class PartitionMemory:
    ids: dict[str, int] = field(default_factory=dict)  # messageId -> event time (ms)
    heap: list[tuple[int, str]] = field(default_factory=list)
    watermark: int | None = None


@dataclass
class DedupeMemory:
    window_ms: int
    _partitions: dict[int, PartitionMemory] = field(default_factory=dict)

    def knows(self, partition: int) -> bool:
        return partition in self._partitions

    def load(self, partition: int, entries: Mapping[str, int]) -> None:
        """Adopt what the dedupe topic holds for a newly assigned partition."""
        memory = PartitionMemory(ids=dict(entries))
        memory.heap = [(ts, message_id) for message_id, ts in entries.items()]
        heapq.heapify(memory.heap)
        memory.watermark = max(entries.values(), default=None)
        self._partitions[partition] = memory

    def drop(self, partition: int) -> None:
        """Forget a partition this worker no longer owns."""
        self._partitions.pop(partition, None)

    def seen(self, partition: int, message_id: str) -> bool:
        memory = self._partitions.get(partition)
        return memory is not None and message_id in memory.ids

    def remember(self, partition: int, message_id: str, ts_ms: int) -> bool:
        """Record an id; False when the event is already older than the window."""
        memory = self._partitions.setdefault(partition, PartitionMemory())
        if memory.watermark is not None and ts_ms < memory.watermark - self.window_ms:
            return False
        memory.ids[message_id] = ts_ms
        heapq.heappush(memory.heap, (ts_ms, message_id))
        if memory.watermark is None or ts_ms > memory.watermark:
            memory.watermark = ts_ms
        return True

    def expire(self, partition: int) -> list[str]:
        """Remove and return the ids older than (watermark - window) on ``partition``."""
        memory = self._partitions.get(partition)
        if memory is None or memory.watermark is None:
            return []
        cutoff = memory.watermark - self.window_ms
        expired = []
        while memory.heap and memory.heap[0][0] < cutoff:
            _ts, message_id = heapq.heappop(memory.heap)
            if memory.ids.pop(message_id, None) is not None:
                expired.append(message_id)
        return expired

    def __len__(self) -> int:
        return sum(len(m.ids) for m in self._partitions.values())
