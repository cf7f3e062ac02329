"""A batch-at-a-time, exactly-once stage loop on plain confluent-kafka.

The loop consumes a batch, hands each record to a :class:`Processor` (pure decisions), and
produces what it returns inside one Kafka transaction together with the consumed offsets
(``send_offsets_to_transaction``). A transaction spans a commit interval (100 ms by
default), not one record: a crash or an abort throws the whole interval away (outputs, state
changes and offsets alike) and the stage resumes from the committed offsets with its state
rebuilt from what was committed.

Fencing. The transactional id is stable per worker instance (``<group>-<instance>``), so a
restarted worker aborts what its killed predecessor left open at once (``init_transactions``)
instead of leaving read_committed consumers stuck behind it until the transaction times
out. Against a zombie with another id, the consumer group generation sent with the offsets
fences it (KIP-447). A fenced producer is fatal: the stage stops and says so.

The consumer and the loop are here; the producer and each transaction call's retry policy
are in :mod:`streams.kafka.transactions`. The processor's decisions never see a client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from models.logs import RateLimitedLog
from streams.kafka.bounded import StageFailed, bounded
from streams.kafka.records import Consumed, Record
from streams.kafka.transactions import TransactionCalls
from streams.monitoring.health import StageHealth
from streams.monitoring.metrics import CONSUMER_LAG, TRANSACTION_SECONDS, forget_lag

log = logging.getLogger(__name__)

__all__ = ["LoopConfig", "Processor", "StageFailed", "TransactionalLoop"]


class Processor(Protocol):
    """What a stage plugs into the loop. Called from the loop's thread only."""

    def assigned(self, partitions: list[int]) -> None:
        """Partitions taken over: load their state from what was committed."""

    def revoked(self, partitions: list[int]) -> None:
        """Partitions given up (or their uncommitted work thrown away): forget their state."""

    def handle(self, record: Consumed) -> Iterable[Record]:
        """The records to produce for one consumed record, in its transaction."""
        ...

    def tick(self, caught_up: set[int]) -> Iterable[Record]:
        """Called every ``tick_interval_s`` (when set), with or without input: the records
        that time passing causes (due deadlines). ``caught_up``: the owned partitions with
        nothing more to read now."""
        ...

    def pending(self) -> bool:
        """Whether :meth:`flush` has records (state writes held back until the commit)."""
        ...

    def flush(self) -> Iterable[Record]:
        """Records held back until the commit (coalesced state writes), produced into the
        transaction right before it commits."""
        ...

    def committed(self) -> None:
        """The transaction holding everything handled so far committed."""


@dataclass(frozen=True)
class LoopConfig:
    bootstrap: str
    topic: str
    group: str
    transactional_id: str
    commit_interval_s: float = 0.1
    commit_min_interval_s: float = 0.1  # caught up: commit this soon (settings.py says more)
    batch_size: int = 2_000
    transaction_timeout_ms: int = 30_000
    session_timeout_ms: int = 10_000
    tick_interval_s: float | None = None
    commit_patience_s: float = 300.0  # how long a commit is retried while the broker is away
    consumer: dict[str, Any] = field(default_factory=dict)
    producer: dict[str, Any] = field(default_factory=dict)


class TransactionalLoop:
    """Run with :meth:`run` (in a thread); :meth:`stop` makes it commit what it handled and
    return. ``health`` is updated as it goes (alive, assignment, last progress, errors)."""

    def __init__(self, config: LoopConfig, processor: Processor, health: StageHealth,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.processor, self.health, self.clock = config, processor, health, clock
        self._stop = threading.Event()
        self.log_limited = RateLimitedLog(log)
        self._offsets: dict[int, int] = {}      # partition -> next offset, since the last commit
        self._assigned: set[int] = set()
        self._in_transaction = False
        self._started_at = 0.0
        self._ticked_at = 0.0
        self._lag_at = 0.0
        self._commit_seconds = TRANSACTION_SECONDS.labels(config.group)
        self.consumer = Consumer({
            "bootstrap.servers": config.bootstrap,
            "group.id": config.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "session.timeout.ms": config.session_timeout_ms,
            "heartbeat.interval.ms": max(config.session_timeout_ms // 5, 500),
            "max.poll.interval.ms": 300_000,
            "fetch.wait.max.ms": 50,
            **config.consumer,
        })
        producer = Producer({
            "bootstrap.servers": config.bootstrap,
            "transactional.id": config.transactional_id,
            "transaction.timeout.ms": config.transaction_timeout_ms,
            "enable.idempotence": True,
            "acks": "all",
            # outputs are visible only once their transaction commits, and the commit
            # flushes (ignoring linger), so lingering costs no latency: it makes larger,
            # fewer produce requests (validation stage alone 21,200 -> 27,000 events/s at
            # 50 ms against 5; two pinned workers 1.36-1.42x -> 1.53-1.59x of one)
            "linger.ms": 50,
            "compression.type": "lz4",
            "message.max.bytes": 1_000_000,
            **config.producer,
        })
        self.transactions = TransactionCalls(producer, config.group, health, self._stop,
                                             config.commit_patience_s)

    def stop(self) -> None:
        self._stop.set()

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> None:
        """Consume, handle, produce and commit until stopped. Raises :class:`StageFailed`
        on a fatal error; a graceful stop commits what was handled and returns."""
        self.health.starting()
        try:
            if not self.transactions.init():  # stopped while it waited for the broker
                self.health.stopped()
                return
            self.consumer.subscribe([self.config.topic], on_assign=self._on_assign,
                                    on_revoke=self._on_revoke, on_lost=self._on_lost)
            self.health.running()
            while not self._stop.is_set():
                messages = self._poll()
                if messages:
                    self._handle(messages)
                self._tick()
                self._report_lag()
                if self._in_transaction and self._due(
                        caught_up=len(messages) < self.config.batch_size):
                    self._commit()
            if self._in_transaction:
                self._commit()
            self.health.stopped()
        except StageFailed as exc:
            self.health.failed(str(exc))
            raise
        except Exception as exc:
            self.health.failed(f"{type(exc).__name__}: {exc}")
            raise StageFailed(f"{self.config.group}: {exc}") from exc
        finally:
            self._close()

    def _poll(self) -> list[Message]:
        """The next batch. Outside a transaction it is handed over at its first record
        (``consume`` would wait for a full batch or the timeout: 100 ms at a low rate);
        inside one it fills until the transaction may commit."""
        batch, timeout = self.config.batch_size, self._poll_timeout()
        if self._in_transaction:
            return self.consumer.consume(batch, timeout)
        first = self.consumer.poll(timeout)
        if first is None:
            return []
        return [first, *self.consumer.consume(batch - 1, 0)]

    def _poll_timeout(self) -> float:
        """How long one poll may wait for a batch: until the open transaction may commit
        early (see :meth:`_due`), else 100 ms."""
        if not self._in_transaction:
            return 0.1
        elapsed = self.clock() - self._started_at
        return max(0.0, min(0.1, self.config.commit_interval_s - elapsed,
                            self.config.commit_min_interval_s - elapsed))

    def _due(self, caught_up: bool) -> bool:
        """Whether the open transaction commits now: its interval is over, or the stage has
        read everything there is (the last poll returned less than a full batch) and the
        minimum interval is over. Under a backlog every poll returns a full batch, so a
        transaction spans the whole interval; at a low rate events do not wait for it."""
        elapsed = self.clock() - self._started_at
        return elapsed >= self.config.commit_interval_s or (
            caught_up and elapsed >= self.config.commit_min_interval_s)

    def _handle(self, messages: list[Message]) -> None:
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal():  # the consumer cannot go on: the worker restarts
                    raise StageFailed(f"consumer: {error}")
                if error.code() != KafkaError._PARTITION_EOF:
                    self.health.warn(f"consume: {error}")
                    self.log_limited.warning("%s: consume: %s", self.config.group, error)
                continue
            partition, offset = message.partition(), message.offset()
            if partition is None or offset is None or partition not in self._assigned:
                continue
            topic = message.topic() or self.config.topic
            kind, timestamp = message.timestamp()
            record = Consumed(topic, partition, offset, message.key(), message.value(),
                              None if kind == TIMESTAMP_NOT_AVAILABLE or timestamp <= 0
                              else timestamp)
            outputs = list(self.processor.handle(record))
            if not self._in_transaction:
                self._begin()
            for out in outputs:
                self.transactions.produce(out)
            self._offsets[partition] = offset + 1
        self.health.progressed(len(messages))

    def _positions(self) -> dict[int, tuple[int, int]]:
        """Owned partition -> (position, high watermark), from the consumer's cache (no
        broker round trip); partitions it cannot say anything about are left out."""
        out = {}
        for partition in sorted(self._assigned):
            tp = TopicPartition(self.config.topic, partition)
            try:
                _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
                position = self.consumer.position([tp])[0].offset
            except KafkaException:
                continue
            if high >= 0:
                out[partition] = (position, high)
        return out

    def _caught_up(self) -> set[int]:
        """Owned partitions whose position is at the high watermark."""
        return {partition for partition, (position, high) in self._positions().items()
                if position >= high or (position < 0 and high == 0)}

    def _report_lag(self) -> None:
        """Input records not handled yet, per owned partition, every 5 s."""
        now = self.clock()
        if now - self._lag_at < 5.0:
            return
        self._lag_at = now
        for partition, (position, high) in self._positions().items():
            if position >= 0:
                CONSUMER_LAG.labels(self.config.group, self.config.topic, str(partition)).set(
                    max(high - position, 0))

    def _tick(self) -> None:
        interval = self.config.tick_interval_s
        if interval is None or self.clock() - self._ticked_at < interval:
            return
        self._ticked_at = self.clock()
        outputs = list(self.processor.tick(self._caught_up()))
        if (outputs or self.processor.pending()) and not self._in_transaction:
            self._begin()
        for out in outputs:
            self.transactions.produce(out)

    def _begin(self) -> None:
        self.transactions.begin()
        self._in_transaction = True
        self._started_at = self.clock()

    def _commit(self) -> None:
        """The held-back records and the offsets into the transaction, then commit
        (:meth:`TransactionCalls.commit` retries while the broker is away); an aborted
        transaction redoes the interval from the committed offsets."""
        started = time.perf_counter()
        offsets = [TopicPartition(self.config.topic, p, o) for p, o in self._offsets.items()]
        for out in self.processor.flush():
            self.transactions.produce(out)
        committed = self.transactions.commit(offsets, self.consumer.consumer_group_metadata)
        self._commit_seconds.observe(time.perf_counter() - started)
        if not committed:
            self._rewind()
            return
        self._in_transaction = False
        self._offsets.clear()
        self.processor.committed()
        self.health.committed()

    def _abort_and_rewind(self) -> None:
        self.transactions.abort()
        self._rewind()

    def _rewind(self) -> None:
        """After an abort: rewind every owned partition to its committed offset and reload
        its state."""
        self._in_transaction = False
        self._offsets.clear()
        partitions = sorted(self._assigned)
        # the state the aborted records changed is thrown away and read back as committed
        self.processor.revoked(partitions)
        committed = self.consumer.committed(
            [TopicPartition(self.config.topic, p) for p in partitions], timeout=30)
        for tp in committed:
            self.consumer.seek(TopicPartition(tp.topic, tp.partition,
                                              tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
        self.health.restoring()
        self.processor.assigned(partitions)
        self.health.running()

    # -- rebalances ---------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        numbers = [tp.partition for tp in partitions]
        self.health.restoring()
        self.processor.assigned(numbers)
        self._assigned.update(numbers)
        self.health.assigned(sorted(self._assigned))
        self.health.running()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Commit what was handled for the partitions going away before letting them go."""
        if self._in_transaction:
            self._commit()
        numbers = [tp.partition for tp in partitions]
        self.processor.revoked(numbers)
        self._assigned.difference_update(numbers)
        forget_lag(self.config.group, self.config.topic, numbers)
        self.health.assigned(sorted(self._assigned))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Partitions lost without a clean revoke (session timeout): another member owns
        them now, so nothing handled since the last commit may commit."""
        numbers = [tp.partition for tp in partitions]
        self._assigned.difference_update(numbers)
        forget_lag(self.config.group, self.config.topic, numbers)
        self.processor.revoked(numbers)
        if self._in_transaction:
            self._abort_and_rewind()
        self.health.assigned(sorted(self._assigned))

    def _close(self) -> None:
        """Abort what is open, leave the group, flush: each bounded in time, so that a
        stage whose Kafka client is stuck still lets its process exit."""
        try:
            producer = self.transactions.producer
            if self._in_transaction:
                bounded(producer.abort_transaction, 10.0)
            bounded(lambda _timeout: self.consumer.close(), 10.0)
            bounded(producer.flush, 10.0)
        except (KafkaException, RuntimeError) as exc:
            log.warning("%s: closing: %s", self.config.group, exc)
