"""A compacted topic as every process sees it: read from its beginning, then followed by a
thread, so a record written anywhere counts here within about a second, without a restart.
API keys, exchange rates and the erasure list are kept this way (the embedded ClickHouse is
locked by one process; Kafka is what every process reaches)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from models.errors import ShopstreamError

log = logging.getLogger(__name__)

Apply = Callable[[bytes, bytes | None], None]


class TopicFollower:
    """Calls ``apply(key, value)`` for every record of ``topic`` (``value`` None for a
    tombstone), in each partition's order, on its own thread. ``loaded`` is set once the
    records that were in the topic when it started have been applied. ``error`` is what
    stops it from reading now: a wait that ended in an answer clears it."""

    def __init__(self, bootstrap: str, topic: str, apply: Apply, name: str) -> None:
        self.bootstrap, self.topic, self.apply, self.name = bootstrap, topic, apply, name
        self.loaded = threading.Event()
        self.error: str | None = None
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> TopicFollower:
        self._running = True
        self._thread = threading.Thread(target=self._follow, name=self.name, daemon=True)
        self._thread.start()
        return self

    def wait_loaded(self, timeout: float) -> None:
        if not self.loaded.wait(timeout):
            raise ShopstreamError(f"could not read the {self.name} from {self.topic} within "
                                  f"{timeout:.0f} s: {self.error or 'no answer from Kafka'}")

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(10)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _follow(self) -> None:
        consumer = Consumer({"bootstrap.servers": self.bootstrap,
                             "group.id": f"shopstream-{self.name}-{uuid.uuid4()}",
                             "enable.auto.commit": False, "isolation.level": "read_committed",
                             "topic.metadata.refresh.interval.ms": 10_000})
        try:
            ends: dict[int, int] | None = self._assign(consumer)
            self.error = None  # the topic answered: what it said while it was not ready is over
            while self._running:
                for message in consumer.consume(500, timeout=0.25):
                    key = message.key()
                    if message.error() is None and key is not None:
                        self.apply(key, message.value())
                if ends is not None and all(
                        tp.offset >= ends.get(tp.partition, 0) for tp in consumer.position(
                            [TopicPartition(self.topic, p) for p in ends])):
                    ends = None
                    self.loaded.set()
        except KafkaException as exc:
            self.error = str(exc)
            log.error("%s: reading %s failed: %s", self.name, self.topic, exc)
        finally:
            consumer.close()

    def _assign(self, consumer: Consumer) -> dict[int, int]:
        deadline = time.monotonic() + 60
        while True:
            try:
                partitions = consumer.list_topics(self.topic, timeout=10).topics[self.topic]
                if partitions.error is None and partitions.partitions:
                    break
                self.error = f"topic {self.topic}: {partitions.error}"
            except KafkaException as exc:
                self.error = str(exc)
            if time.monotonic() > deadline or not self._running:
                raise KafkaException(self.error)
            time.sleep(0.5)
        ends = {}
        for p in partitions.partitions:
            low, high = self._watermarks(consumer, p, deadline)
            if high > low:  # an empty partition is read already
                ends[p] = high
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING)
                         for p in partitions.partitions])
        return ends

    def _watermarks(self, consumer: Consumer, partition: int, deadline: float) -> tuple[int, int]:
        """A partition's offsets, asked again while its leader is not known yet (a topic
        created a moment ago answers NOT_LEADER_FOR_PARTITION for a while)."""
        while True:
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition), timeout=10)
                return int(low), int(high)
            except KafkaException as exc:
                self.error = str(exc)
                if time.monotonic() > deadline or not self._running:
                    raise
                time.sleep(0.5)
