"""A compacted topic as every process sees it: read from its beginning, then followed by a
thread, so a record written anywhere counts here within about a second, without a restart.
API keys, exchange rates and the erasure list are kept this way (the embedded ClickHouse is
locked by one process; Kafka is what every process reaches)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from models.errors import ShopstreamError

log = logging.getLogger(__name__)

Apply = Callable[[bytes, bytes | None], None]

# every follower this process runs, for /health (streams/web/views.py); the lock: a WeakSet
# iterated while another thread adds to it raises
_RUNNING: weakref.WeakSet[TopicFollower] = weakref.WeakSet()
_RUNNING_LOCK = threading.Lock()
RECHECK_S = 5.0  # while a followed topic reports an error: how often Kafka is asked again


class TopicFollower:
    """Calls ``apply(key, value)`` for every record of ``topic`` (``value`` None for a
    tombstone), in each partition's order, on its own thread. ``loaded`` is set once the
    records that were in the topic when it started have been applied. ``error`` is what
    stops it from reading now: a wait that ended in an answer clears it."""

    def __init__(self, bootstrap: str, topic: str, apply: Apply, name: str) -> None:
        self.bootstrap, self.topic, self.apply, self.name = bootstrap, topic, apply, name
        self.loaded = threading.Event()
        self._error: str | None = None
        self.error_since: float | None = None  # monotonic: when the current error began
        self._running = False
        self._thread: threading.Thread | None = None
        self._next: dict[int, int] = {}  # partition -> the next offset to apply

    @property
    def error(self) -> str | None:
        return self._error

    @error.setter
    def error(self, value: str | None) -> None:
        if value is None:
            self.error_since = None
        elif self.error_since is None:
            self.error_since = time.monotonic()
        self._error = value

    def _on_kafka_error(self, error: KafkaError) -> None:
        """librdkafka's client-level errors (all brokers down, a connection lost), served
        by ``consume`` on this thread; cleared by the next record or the recheck."""
        self.error = f"Kafka: {error}"

    def failing(self, limit_s: float) -> bool:
        """Its thread died, or it has not read its topic for ``limit_s`` (a shorter outage
        is not a failure: the client reconnects by itself)."""
        since = self.error_since
        return not self.alive or (since is not None and time.monotonic() - since >= limit_s)

    def snapshot(self) -> dict[str, Any]:
        """What /health shows of it."""
        since = self.error_since
        return {"topic": self.topic, "loaded": self.loaded.is_set(), "alive": self.alive,
                "error": self._error,
                "error_s": None if since is None else round(time.monotonic() - since, 1)}

    def start(self) -> TopicFollower:
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        self._running = True
        self._thread = threading.Thread(target=self._follow, name=self.name, daemon=True)
        self._thread.start()
        return self

    def wait_loaded(self, timeout: float) -> None:
        if not self.loaded.wait(timeout):
            raise ShopstreamError(f"could not read the {self.name} from {self.topic} within "
                                  f"{timeout:.0f} s: {self.error or 'no answer from Kafka'}")

    def stop(self) -> None:
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        self._running = False
        if self._thread is not None:
            self._thread.join(10)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _follow(self) -> None:
        """Follow until stopped: a Kafka error the client does not recover from is reported
        in ``error`` and the topic is read again with a new consumer, from where this one
        stopped (records are never applied twice: an old one again would undo a later one)."""
        while self._running:
            consumer = Consumer({"bootstrap.servers": self.bootstrap,
                                 "group.id": f"shopstream-{self.name}-{uuid.uuid4()}",
                                 "enable.auto.commit": False,
                                 "isolation.level": "read_committed",
                                 # a remembered offset no longer there: from the beginning
                                 "auto.offset.reset": "earliest",
                                 "topic.metadata.refresh.interval.ms": 10_000,
                                 # the broker away: reported here, not by consume()
                                 "error_cb": self._on_kafka_error})
            try:
                self._read(consumer)
            except KafkaException as exc:
                self.error = str(exc)
                if self._running:
                    log.error("%s: reading %s failed, reading it again: %s", self.name,
                              self.topic, exc)
                    time.sleep(1.0)
            finally:
                consumer.close()

    def _read(self, consumer: Consumer) -> None:
        ends: dict[int, int] | None = self._assign(consumer)
        self.error = None  # the topic answered: what it said while it was not ready is over
        checked = time.monotonic()
        while self._running:
            for message in consumer.consume(500, timeout=0.25):
                error, partition, offset = message.error(), message.partition(), message.offset()
                if error is not None:  # the broker away, above all: the client reconnects
                    self.error = f"reading {self.topic}: {error}"
                    continue
                if partition is not None and offset is not None:
                    self._next[partition] = offset + 1
                key = message.key()
                if key is not None:
                    self._apply(partition, offset, key, message.value())
                self.error = None
            if self.error is not None and time.monotonic() - checked >= RECHECK_S:
                checked = time.monotonic()  # a quiet topic brings no record to show it is back
                self._recheck(consumer)
            if ends is not None and all(
                    tp.offset >= ends.get(tp.partition, 0) for tp in consumer.position(
                        [TopicPartition(self.topic, p) for p in ends])):
                ends = None
                self.loaded.set()

    def _recheck(self, consumer: Consumer) -> None:
        """Whether the topic answers again (its metadata), ending the error if it does."""
        try:
            topic = consumer.list_topics(self.topic, timeout=RECHECK_S).topics.get(self.topic)
        except KafkaException:
            return
        if topic is not None and topic.error is None and topic.partitions:
            self.error = None

    def _apply(self, partition: int | None, offset: int | None, key: bytes,
               value: bytes | None) -> None:
        """One record; one that ``apply`` cannot take is logged and skipped (a record
        written by hand must not stop every process from following the topic)."""
        try:
            self.apply(key, value)
        except Exception:  # noqa: BLE001 - one record, not the follower
            log.exception("%s: record %s@%s of %s not applied, skipped", self.name, offset,
                          partition, self.topic)

    def _assign(self, consumer: Consumer) -> dict[int, int]:
        """Assign every partition from its beginning; asked again until the topic answers
        (``wait_loaded`` bounds how long a caller waits for that)."""
        while True:
            try:
                partitions = consumer.list_topics(self.topic, timeout=10).topics[self.topic]
                if partitions.error is None and partitions.partitions:
                    break
                self.error = f"topic {self.topic}: {partitions.error}"
            except KafkaException as exc:
                self.error = str(exc)
            if not self._running:
                raise KafkaException(self.error)
            time.sleep(0.5)
        ends = {}
        for p in partitions.partitions:
            low, high = self._watermarks(consumer, p)
            if high > low:  # an empty partition is read already
                ends[p] = high
        # from the beginning; after a new consumer was needed, from where the last one stopped
        consumer.assign([TopicPartition(self.topic, p, self._next.get(p, OFFSET_BEGINNING))
                         for p in partitions.partitions])
        return {p: end for p, end in ends.items() if end > self._next.get(p, 0)}

    def _watermarks(self, consumer: Consumer, partition: int) -> tuple[int, int]:
        """A partition's offsets, asked again while its leader is not known yet (a topic
        created a moment ago answers NOT_LEADER_FOR_PARTITION for a while)."""
        while True:
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition), timeout=10)
                return int(low), int(high)
            except KafkaException as exc:
                self.error = str(exc)
                if not self._running:
                    raise
                time.sleep(0.5)


def followers_health(error_limit_s: float) -> tuple[bool, dict[str, Any]]:
    """(all well, name -> snapshot) of this process's followers: one whose thread died, or
    that has not read its topic for ``error_limit_s``, is not well (a short broker outage
    is, as a stage's blocked time is)."""
    with _RUNNING_LOCK:
        followers = sorted(_RUNNING, key=lambda f: (f.name, id(f)))
    report: dict[str, Any] = {}
    ok = True
    for follower in followers:
        snapshot = follower.snapshot()
        snapshot["healthy"] = not follower.failing(error_limit_s)
        ok = ok and snapshot["healthy"]
        name, same = follower.name, 1  # several of one topic in a process: each shown
        while name in report:
            same += 1
            name = f"{follower.name} #{same}"
        report[name] = snapshot
    return ok, report
