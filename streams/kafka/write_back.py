"""A write-back cache of state changes, flushed to a compacted changelog at the commit.

As Kafka Streams' record cache does: a key changed many times between two commits writes
one changelog record, with its latest value (``None`` deletes). A stage keeps one cache;
the transactional loop asks for :meth:`WriteBackCache.flush` right before it commits, so the
records land in the same transaction as the outputs and offsets they belong with.
"""

from __future__ import annotations

from typing import Any

import orjson

from models.serde import dumps
from streams.kafka.records import Record


class WriteBackCache:
    def __init__(self, changelog: str) -> None:
        self.changelog = changelog
        self._writes: dict[int, dict[str, Any]] = {}  # partition -> key -> value

    def update(self, partition: int, writes: dict[str, Any]) -> None:
        if writes:
            self._writes.setdefault(partition, {}).update(writes)

    def drop(self, partition: int) -> None:
        """Forget a partition's uncommitted writes (given up, or its transaction aborted)."""
        self._writes.pop(partition, None)

    def pending(self) -> bool:
        return any(self._writes.values())

    def flush(self) -> list[Record]:
        """One changelog record per changed key, to the key's partition; empties the cache."""
        out = [Record(self.changelog, orjson.dumps(key), None if value is None else dumps(value),
                      partition)
               for partition, writes in self._writes.items() for key, value in writes.items()]
        self._writes.clear()
        return out
