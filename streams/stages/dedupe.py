"""The dedupe memory of the validation stage: which messageIds a partition has seen.

Pure bookkeeping. Time is arrival time: the stage passes each record's Kafka timestamp (the
event's own time for a record without one), and the window is measured back from the latest
time seen on the partition. Resends arrive close together whatever their event time, so a
backfill of old events produced twice is deduplicated like live traffic; a replay of the
raw records reads the same timestamps and dedupes exactly as the live run did.

The stage persists the memory to a compacted Kafka topic (its dedupe changelog,
partitioned like the raw topic) inside the transaction that writes the outputs, and
rebuilds a partition's memory from the committed records when it takes the partition over.
Like a state store's write-back cache (Kafka Streams' record cache), the ids remembered
during one transaction are written as one record per partition at its commit, not one per
event (:meth:`DedupeMemory.changes`):

- key ``{"from_offset": N, "part": P}``: N is the raw offset of the first event the batch
  remembers (unique per partition: committed batches cover distinct offsets), P numbers
  the records of a batch too large for one (``MAX_RECORD_BYTES``);
- value ``{id: time in ms, ...}``, where an id is the event's messageId for the
  default tenant and ``<tenant>\x00<messageId>`` for any other (:func:`models.validation.dedupe_id`);
- a tombstone for the key once every id in it is older than the window.

A changelog written before batches holds one record per id (key the id as a JSON string,
value its time in ms). Such records are still read and left where they are; each is
tombstoned once its id leaves the window, at most ``MAX_TOMBSTONE_BYTES`` of keys per
partition and commit (the rest at the next commits), so that no transaction grows with the
size of an old changelog.

An id found in several records (an old and a new version writing one partition) keeps
the latest of their times.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import orjson

# a batch record stays well under the producer's and the broker's 1 MB message limit: an
# id is at most 1,024 characters (models/limits.py), 6 bytes each when JSON escapes it
MAX_RECORD_BYTES = 512 * 1024
_ENTRY_OVERHEAD = 24  # quotes, colon, comma and a time in ms
# the keys of one-id records tombstoned per partition and commit: a transaction stays small
# however many ids an older changelog held, and however long they are (up to 6 KiB a key)
MAX_TOMBSTONE_BYTES = 256 * 1024


@dataclass
class PartitionMemory:
    ids: dict[str, int] = field(default_factory=dict)  # messageId -> arrival time (ms)
    heap: list[tuple[int, str]] = field(default_factory=list)  # (time, id): expiry order
    watermark: int | None = None
    unsaved: dict[str, int] = field(default_factory=dict)  # remembered since the last save
    unsaved_from: int | None = None  # the raw offset of the first of them: the batch's key
    saved: list[tuple[int, bytes]] = field(default_factory=list)  # heap: (latest time, key)
    one_id: list[tuple[int, bytes]] = field(default_factory=list)  # heap: older one-id records


@dataclass
class DedupeMemory:
    window_ms: int
    _partitions: dict[int, PartitionMemory] = field(default_factory=dict)

    def knows(self, partition: int) -> bool:
        return partition in self._partitions

    def load(self, partition: int, changelog: Mapping[bytes, bytes | None]) -> int:
        """Adopt what the committed changelog holds for a newly assigned partition (key ->
        latest value, ``None`` for a tombstone, in the order first written); returns how
        many ids are inside the window."""
        memory = PartitionMemory()
        ids = memory.ids
        for key, value in changelog.items():
            if value is None:
                continue
            name = orjson.loads(key)
            if isinstance(name, str):  # one id per record, as written before batches
                ts = int(orjson.loads(value))
                if ids.get(name, -1) < ts:
                    ids[name] = ts
                memory.one_id.append((ts, key))  # tombstoned by its own time
                continue
            batch: dict[str, int] = orjson.loads(value)
            if not batch:
                continue
            if ids.keys().isdisjoint(batch):  # the usual case: each id in one record
                ids.update(batch)
            else:  # the latest time wins, whichever record was written first
                for message_id, ts in batch.items():
                    if ids.get(message_id, -1) < ts:
                        ids[message_id] = ts
            memory.saved.append((max(batch.values()), key))
        heapq.heapify(memory.saved)
        heapq.heapify(memory.one_id)
        memory.watermark = max(memory.ids.values(), default=None)
        memory.heap = [(ts, message_id) for message_id, ts in memory.ids.items()]
        heapq.heapify(memory.heap)
        self._partitions[partition] = memory
        self._expire(memory)  # what a batch still held past the window, as if never loaded
        return len(memory.ids)

    def drop(self, partition: int) -> None:
        """Forget a partition this worker no longer owns (and what it had not saved)."""
        self._partitions.pop(partition, None)

    def seen(self, partition: int, message_id: str) -> bool:
        memory = self._partitions.get(partition)
        return memory is not None and message_id in memory.ids

    def remember(self, partition: int, message_id: str, ts_ms: int, offset: int) -> bool:
        """Record the id of the event at raw ``offset``, then forget the ids the window has
        left behind; False when its time is already older than the window."""
        memory = self._partitions.setdefault(partition, PartitionMemory())
        if memory.watermark is not None and ts_ms < memory.watermark - self.window_ms:
            return False
        memory.ids[message_id] = memory.unsaved[message_id] = ts_ms
        if memory.unsaved_from is None:
            memory.unsaved_from = offset
        heapq.heappush(memory.heap, (ts_ms, message_id))
        if memory.watermark is None or ts_ms > memory.watermark:
            memory.watermark = ts_ms
            self._expire(memory)
        return True

    def _expire(self, memory: PartitionMemory) -> None:
        """Forget the ids older than (watermark - window)."""
        if memory.watermark is None:
            return
        cutoff = memory.watermark - self.window_ms
        heap, ids = memory.heap, memory.ids
        while heap and heap[0][0] < cutoff:
            ts, message_id = heapq.heappop(heap)
            if ids.get(message_id) == ts:  # not an id remembered again since, at a later time
                del ids[message_id]
                memory.unsaved.pop(message_id, None)

    def changes(self) -> Iterator[tuple[int, bytes, bytes | None]]:
        """What to write to the changelog in the transaction about to commit, as
        (partition, key, value or ``None`` for a tombstone), and forget it as unsaved: the
        ids remembered since the last call as one batch per partition (more records when
        large), and tombstones for the batches the window has left behind and for one-id
        records, up to ``MAX_TOMBSTONE_BYTES`` of their keys. An aborted transaction drops the
        partitions and loads them again."""
        for partition, memory in self._partitions.items():
            if memory.unsaved:
                for part, batch in enumerate(_parts(memory.unsaved)):
                    key = orjson.dumps({"from_offset": memory.unsaved_from, "part": part})
                    yield partition, key, orjson.dumps(batch)
                    heapq.heappush(memory.saved, (max(batch.values()), key))
            memory.unsaved, memory.unsaved_from = {}, None
            cutoff = (memory.watermark or 0) - self.window_ms
            while memory.saved and memory.saved[0][0] < cutoff:
                yield partition, heapq.heappop(memory.saved)[1], None
            budget = MAX_TOMBSTONE_BYTES
            while budget > 0 and memory.one_id and memory.one_id[0][0] < cutoff:
                key = heapq.heappop(memory.one_id)[1]
                budget -= len(key)
                yield partition, key, None

    def __len__(self) -> int:
        return sum(len(m.ids) for m in self._partitions.values())


def _parts(ids: dict[str, int]) -> Iterator[dict[str, int]]:
    """``ids`` in pieces that each encode to at most ``MAX_RECORD_BYTES``."""
    part: dict[str, int] = {}
    size = 0
    for message_id, ts in ids.items():
        entry = len(message_id) * 6 + _ENTRY_OVERHEAD
        if part and size + entry > MAX_RECORD_BYTES:
            yield part
            part, size = {}, 0
        part[message_id] = ts
        size += entry
    if part:
        yield part
