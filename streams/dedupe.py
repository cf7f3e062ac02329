"""Which messageIds to forget: the expiry bookkeeping of the dedupe window.

The validation agent keeps ``messageId -> [event time ms, partition]`` in a Faust
table (changelogged, so it survives restarts). This module decides, per
partition, which ids have fallen out of the window. Time is event time: the
window is measured back from the latest event time seen on that partition, so
a replay of old traffic dedupes exactly as the live run did.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class ExpiryQueue:
    """Per-partition min-heaps of (event time ms, messageId) with a watermark each."""

    window_ms: int
    _heaps: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    _watermarks: dict[int, int] = field(default_factory=dict)

    def knows(self, partition: int) -> bool:
        return partition in self._heaps

    def load(self, partition: int, entries: Iterable[tuple[str, int]]) -> None:
        """Adopt ids recovered from the changelog for a newly assigned partition."""
        heap = [(ts, message_id) for message_id, ts in entries]
        heapq.heapify(heap)
        self._heaps[partition] = heap
        if heap:
            self._watermarks[partition] = max(
                self._watermarks.get(partition, 0), max(ts for ts, _ in heap)
            )

    def add(self, partition: int, message_id: str, ts_ms: int) -> None:
        heapq.heappush(self._heaps.setdefault(partition, []), (ts_ms, message_id))
        if ts_ms > self._watermarks.get(partition, ts_ms - 1):
            self._watermarks[partition] = ts_ms

    def is_fresh(self, partition: int, ts_ms: int) -> bool:
        """True when an event of this time is still inside the window."""
        return ts_ms >= self._watermarks.get(partition, ts_ms) - self.window_ms

    def pop_expired(self, partition: int) -> list[str]:
        """Remove and return the ids older than (watermark - window) on ``partition``."""
        heap = self._heaps.get(partition)
        if not heap:
            return []
        cutoff = self._watermarks[partition] - self.window_ms
        expired = []
        while heap and heap[0][0] < cutoff:
            expired.append(heapq.heappop(heap)[1])
        return expired

    def __len__(self) -> int:
        return sum(len(heap) for heap in self._heaps.values())
