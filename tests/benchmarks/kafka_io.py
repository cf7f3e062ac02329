"""Kafka plumbing of the benchmark: input held back in a transaction and released at once,
consumer-group progress, where a topic's records end, the plain-consumer limit, and a
read_committed watcher that notes when records first become visible."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.kafka.group_offsets import offsets_reader
from tests.benchmarks.traffic import Message as Outgoing

POLL_S = 0.05


def partitions_of(bootstrap: str, topic: str, timeout: float = 30.0) -> list[int]:
    """The topic's partitions, once its metadata has them, each with a leader (a topic
    created a moment ago may first be reported without)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-meta-{uuid.uuid4()}"})
    deadline = time.monotonic() + timeout
    try:
        while True:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if (metadata is not None and metadata.error is None and metadata.partitions
                    and all(p.leader >= 0 for p in metadata.partitions.values())):
                return sorted(metadata.partitions)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no partitions of {topic} after {timeout:.0f}s")
            time.sleep(0.2)
    finally:
        consumer.close()


def partition_count(bootstrap: str) -> int:
    """How many partitions the broker holds, over all its topics."""
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    return sum(len(topic.partitions) for topic in topics.values())


class HeldInput:
    """Records produced inside one Kafka transaction that stays open until :meth:`release`.
    A read_committed consumer (every stage) sees none of them before and all of them right
    after, so a stage's run can be timed from the moment its whole input appeared, with the
    worker already started and idle."""

    def __init__(self, bootstrap: str, topic: str, messages: list[Outgoing]) -> None:
        self.topic = topic
        self.count = len(messages)
        self.ends: dict[int, int] = {}  # partition -> the offset after its last record
        self.errors: list[str] = []
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "transactional.id": f"bench-input-{uuid.uuid4()}",
            "transaction.timeout.ms": 600_000, "linger.ms": 50, "batch.num.messages": 10_000,
            "compression.type": "lz4",
        })
        self.producer.init_transactions(60)
        self.producer.begin_transaction()
        for message in messages:
            while True:
                try:
                    if message.partition is None:
                        self.producer.produce(topic, message.value, message.key,
                                              on_delivery=self._delivered)
                    else:
                        self.producer.produce(topic, message.value, message.key,
                                              partition=message.partition,
                                              on_delivery=self._delivered)
                    break
                except BufferError:
                    self.producer.poll(0.05)
        if self.producer.flush(300) or self.errors:
            raise RuntimeError(f"could not produce the input to {topic}: {self.errors[:3]}")

    def _delivered(self, error: object, message: Message) -> None:
        if error is not None:
            self.errors.append(str(error))
            return
        partition, offset = message.partition(), message.offset()
        assert partition is not None and offset is not None
        self.ends[partition] = max(self.ends.get(partition, 0), offset + 1)

    def release(self) -> float:
        """Commit: the input becomes visible. Returns ``time.perf_counter()`` then."""
        self.producer.commit_transaction(60)
        return time.perf_counter()


class GroupProgress:
    """A consumer group's committed offsets on one topic, read without joining the group
    (committed offsets travel in a stage's transaction: committed = its outputs visible).
    Read by :func:`~streams.kafka.group_offsets.offsets_reader`, which the broker answers at
    once: asked for stable offsets instead, it refused while a stage's commit was in flight,
    so each change was seen up to hundreds of milliseconds late (100-200 ms of the funnel p99
    this benchmark once reported)."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.group, self.topic = group, topic
        self.partitions = partitions_of(bootstrap, topic)
        self.consumer = offsets_reader(bootstrap, group)
        self.error: KafkaException | None = None  # the last failure, for a timeout's message

    def committed(self) -> dict[int, int]:
        tps = [TopicPartition(self.topic, p) for p in self.partitions]
        try:
            return {tp.partition: tp.offset for tp in self.consumer.committed(tps, timeout=10)}
        except KafkaException as exc:  # e.g. a transaction in flight: ask again at the next poll
            self.error = exc
            return {}

    def close(self) -> None:
        self.consumer.close()


class CommitWatch(threading.Thread):
    """Notes the wall-clock time (``time.time()``) of every change of a consumer group's
    committed offsets on one topic, polled every ``every_s``: when a transactional stage's
    outputs for an input record became visible (its offset commits in the same transaction)."""

    def __init__(self, bootstrap: str, group: str, topic: str, every_s: float = 0.01) -> None:
        super().__init__(daemon=True, name="bench-commit-watch")
        self.progress = GroupProgress(bootstrap, group, topic)
        self.every_s = every_s
        self.changes: dict[int, list[tuple[int, float]]] = {}  # partition -> [(offset, seen)]
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                committed = self.progress.committed()
                now = time.time()
                for partition, offset in committed.items():
                    seen = self.changes.setdefault(partition, [])
                    if offset >= 0 and (not seen or offset > seen[-1][0]):
                        seen.append((offset, now))
                self.stopping.wait(self.every_s)
        finally:
            self.progress.close()

    def committed_at(self, partition: int, offset: int) -> float | None:
        """When the group was first seen past ``offset`` (its record handled and committed)."""
        return next((at for committed, at in self.changes.get(partition, []) if committed > offset),
                    None)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


def reached(committed: dict[int, int], ends: dict[int, int]) -> bool:
    return all(committed.get(p, -1) >= end for p, end in ends.items())


class ProgressLog(threading.Thread):
    """Samples the committed offsets of some groups every ``POLL_S`` until stopped, so that
    when a group got somewhere can be looked up once it is known where it has to get (a
    downstream stage's input ends are known only when the stage before it is done)."""

    def __init__(self, groups: list[GroupProgress]) -> None:
        super().__init__(daemon=True, name="bench-progress")
        self.groups = groups
        self.samples: list[tuple[float, dict[str, dict[int, int]]]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            sample = {group.group: group.committed() for group in self.groups}
            self.samples.append((time.perf_counter(), sample))  # seen by then
            self.stopping.wait(POLL_S)

    def reached_at(self, group: str, ends: dict[int, int]) -> float | None:
        """The first time the group was seen committed up to ``ends``."""
        return next((at for at, sample in list(self.samples) if reached(sample[group], ends)), None)

    def wait(self, group: str, ends: dict[int, int], timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while (at := self.reached_at(group, ends)) is None:
            if time.monotonic() > deadline:
                last = self.samples[-1][1][group] if self.samples else {}
                error = next(g.error for g in self.groups if g.group == group)
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {group} "
                                   f"(at {last}, wanted {ends}; last error: {error})")
            time.sleep(POLL_S)
        return at

    def stop(self) -> None:
        self.stopping.set()
        if self.ident is not None:  # started
            self.join(30)
        for group in self.groups:
            group.close()


def record_ends(bootstrap: str, topic: str, window: int = 50) -> dict[int, int]:
    """Per non-empty partition, the offset after its last committed record: what a stage
    consuming ``topic`` commits once it handled everything (transaction markers take
    offsets too, so the high watermark is further on)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-ends-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "fetch.wait.max.ms": 10})
    ends: dict[int, int] = {}
    try:
        for partition in partitions_of(bootstrap, topic):
            tp = TopicPartition(topic, partition)
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            start = max(low, high - window)
            while high > low:
                consumer.assign([TopicPartition(topic, partition, start)])
                last = -1
                deadline = time.monotonic() + 60
                while consumer.position([tp])[0].offset < high and time.monotonic() < deadline:
                    for message in consumer.consume(1_000, timeout=0.2):
                        if message.error() is None:
                            last = max(last, message.offset() or 0)
                if last >= 0 or start == low:
                    if last >= 0:
                        ends[partition] = last + 1
                    break
                start = low  # only markers or aborted records in the window: read it all
    finally:
        consumer.close()
    return ends


def consume_rate(bootstrap: str, held: HeldInput, timeout: float = 300.0) -> float:
    """The limit: a plain confluent-kafka consumer (assigned, no group, no commits) reads the
    held input and orjson-parses each record, timed like the stages: from the release of
    the input, with the consumer already connected and polling, to its last record.

    ``fetch.queue.backoff.ms``: once the client's prefetch queue holds 64 MiB
    (``queued.max.messages.kbytes``), librdkafka waits this long before fetching again,
    1,000 ms by default. The stages drain 64 MiB in seconds, so a pause never starves them;
    this consumer drains it in a fraction of one, and with the default it spent most of a
    200,000-event run waiting (115,000 events/s against 350,000 with 10 ms; 100,000 events,
    about 50 MiB, never filled the queue and read 330,000 either way)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-raw-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "fetch.wait.max.ms": 50, "fetch.queue.backoff.ms": 10})
    topic, n = held.topic, held.count
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                     for p in partitions_of(bootstrap, topic)])
    try:
        warm = time.monotonic() + 1.0
        while time.monotonic() < warm:  # connected and fetching; nothing is visible yet
            consumer.consume(10_000, timeout=0.1)
        seen = 0
        started = held.release()
        deadline = time.monotonic() + timeout
        while seen < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {seen} of {n} records of {topic} in {timeout:.0f}s")
            for message in consumer.consume(10_000, timeout=0.5):
                if message.error() is not None:
                    continue
                try:
                    orjson.loads(message.value() or b"")
                except orjson.JSONDecodeError:
                    pass
                seen += 1
        return seen / (time.perf_counter() - started)
    finally:
        consumer.close()


def read_committed(bootstrap: str, topic: str) -> list[Outgoing]:
    """Every committed record of ``topic`` with its partition (to copy it elsewhere as is)."""
    ends = record_ends(bootstrap, topic)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-copy-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "fetch.wait.max.ms": 10})
    out: list[Outgoing] = []
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        remaining = dict(ends)
        deadline = time.monotonic() + 300
        while remaining and time.monotonic() < deadline:
            for message in consumer.consume(10_000, timeout=0.5):
                partition, offset = message.partition(), message.offset()
                if message.error() is not None or partition is None or offset is None:
                    continue
                out.append(Outgoing(message.key(), message.value() or b"", partition))
                if offset + 1 >= remaining.get(partition, 0):
                    remaining.pop(partition, None)
        if remaining:
            raise TimeoutError(f"could not read {topic} to its end")
        return out
    finally:
        consumer.close()


class Watcher(threading.Thread):
    """Notes the wall-clock time (``time.time()``) at which each key first becomes visible to
    a read_committed consumer of ``topics`` (read from their beginning, no group)."""

    def __init__(self, bootstrap: str, topics: list[str],
                 key_of: Callable[[Message], str | None]) -> None:
        super().__init__(daemon=True, name="bench-watcher")
        self.consumer = Consumer({"bootstrap.servers": bootstrap,
                                  "group.id": f"bench-watch-{uuid.uuid4()}",
                                  "enable.auto.commit": False, "isolation.level": "read_committed",
                                  "fetch.wait.max.ms": 10})
        self.consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING)
                              for t in topics for p in partitions_of(bootstrap, t)])
        self.key_of = key_of
        self.seen: dict[str, float] = {}
        self.positions: dict[str, tuple[str, int, int]] = {}  # key -> (topic, partition, offset)
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                for message in self.consumer.consume(1_000, timeout=0.05):
                    if message.error() is not None:
                        continue
                    now = time.time()
                    key = self.key_of(message)
                    if key is not None and key not in self.seen:
                        self.seen[key] = now
                        self.positions[key] = (message.topic() or "", message.partition() or 0,
                                               message.offset() or 0)
        finally:
            self.consumer.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)
