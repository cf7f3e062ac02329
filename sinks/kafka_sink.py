"""The ClickHouse sink: ``shop.events`` -> ``events`` and ``order_items``, exactly once.

A plain confluent-kafka consumer in a thread of the worker process (measured
faster than a Faust agent for this job, and it gives exact control of commits):

- messages are batched per partition, flushed at ``sink_batch_rows`` rows, at
  ``sink_batch_seconds`` of age, or as soon as the partition has nothing more to read
  and its batch holds at least ``EAGER_FLUSH_ROWS`` rows;
- batches are written by one insert thread (:class:`InsertLane`, FIFO, at most
  ``IN_FLIGHT`` batches queued or running), so consuming and building the next batch
  overlap the insert of the last; FIFO keeps each partition's batches in order;
- before a batch is written its offset range is recorded in ``sink_batches``;
  the insert carries the deduplication token ``group:topic:partition:first-last``;
- the offset after the batch is committed only once ClickHouse accepted it;
- after a crash the consumer resumes from the last commit; a batch that was
  recorded but not committed is rebuilt over exactly the same offsets, so its
  token matches and ClickHouse skips what it already has;
- when ClickHouse fails, the same batch is retried with exponential backoff, forever:
  nothing is dropped; consumption pauses once ``IN_FLIGHT`` batches wait;
- a partition revoked while its batches are in flight waits for them (a batch is
  recorded in the insert thread, so the next owner must see its record to replay it);
  a partition lost without a revoke does not commit.

Batches are per partition, never combined across partitions: a replay must rebuild a
recorded batch exactly (its token), and after a rebalance another worker may own some
of the partitions a combined batch held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from models.logs import RateLimitedLog
from sinks import metrics
from sinks.dead_letters import DeadLetterSender, Refused, SinkStopped
from sinks.errors import RowsRefused
from sinks.rows import rows_for
from sinks.writer import Batch, ClickHouseWriter

log = logging.getLogger(__name__)
T = TypeVar("T")

IN_FLIGHT = 2             # batches queued or being written before consumption pauses
EAGER_FLUSH_ROWS = 1_000  # a caught-up partition's batch is written at this size, not later


class HealthReporter(Protocol):
    """Where the sink says how it is doing (the worker's ``/health``)."""

    def running(self) -> None: ...
    def stopped(self) -> None: ...
    def failed(self, error: str) -> None: ...
    def assigned(self, partitions: list[int]) -> None: ...
    def progressed(self, records: int) -> None: ...
    def committed(self) -> None: ...
    def blocked(self, reason: str) -> None: ...
    def unblocked(self) -> None: ...


class _NoHealth:
    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


@dataclass
class Row:
    """One consumed event and the rows it becomes."""

    offset: int
    key: bytes | None
    value: bytes
    event: tuple[Any, ...]
    items: list[tuple[Any, ...]]


@dataclass
class Pending:
    first_offset: int
    started: float
    last_offset: int = -1
    target_last: int | None = None  # set when replaying a recorded batch
    rows: list[Row] = field(default_factory=list)
    # records that are not canonical events: (offset, key, value, reason)
    refused: list[Refused] = field(default_factory=list)

    def batch(self, token: str, rows: list[Row] | None = None) -> Batch:
        rows = self.rows if rows is None else rows
        return Batch(token, [r.event for r in rows], [i for r in rows for i in r.items])


@dataclass(frozen=True)
class Written:
    """What the insert thread did with one batch: the offset to commit after it."""

    partition: int
    next_offset: int
    records: int


class InsertLane:
    """One thread that writes batches in the order given; at most ``limit`` in flight."""

    def __init__(self, limit: int = IN_FLIGHT) -> None:
        self.limit = limit
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse-insert")
        self._in_flight: deque[Future[Written]] = deque()

    def submit(self, job: Callable[[], Written]) -> None:
        self._in_flight.append(self._pool.submit(job))

    def full(self) -> bool:
        return len(self._in_flight) >= self.limit

    def busy(self) -> bool:
        return bool(self._in_flight)

    def finished(self, wait: bool = False) -> list[Written]:
        """The batches written since the last call, in order; ``wait``: every one in flight.
        A batch that failed raises its exception here (in the consumer's thread)."""
        out = []
        while self._in_flight and (wait or self._in_flight[0].done()):
            out.append(self._in_flight.popleft().result())
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def batch_token(group: str, topic: str, partition: int, first: int, last: int) -> str:
    return f"{group}:{topic}:{partition}:{first}-{last}"


def located(message: Message) -> tuple[int, int]:
    """Partition and offset of a consumed record (librdkafka sets both on every one that is
    not an error)."""
    partition, offset = message.partition(), message.offset()
    assert partition is not None and offset is not None, "a consumed record has a position"
    return partition, offset


class KafkaSink:
    """Run with :meth:`run` in a thread; :meth:`stop` flushes, commits and returns."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        connect: Callable[[], Client],
        batch_rows: int = 10_000,
        batch_seconds: float = 1.0,
        max_backoff: float = 30.0,
        health: HealthReporter | None = None,
        dlq_topic: str | None = None,
        session_timeout_s: float = 30.0,
    ) -> None:
        self.health: HealthReporter = health if health is not None else _NoHealth()
        self.log_limited = RateLimitedLog(log)
        self.dlq_topic = dlq_topic or f"{topic}.dlq"
        self.dead_letters = DeadLetterSender(bootstrap, self.dlq_topic)
        self.topic = topic
        self.group = group
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.max_backoff = max_backoff
        self._connect = connect
        self._writer: ClickHouseWriter | None = None
        self._stop = threading.Event()
        self._pending: dict[int, Pending] = {}
        self._plans: dict[int, dict[int, int]] = {}  # partition -> {first offset: last offset}
        self._assigned: set[int] = set()
        self._lag_checked = 0.0
        self._lane = InsertLane()
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "fetch.max.bytes": 64 * 1024 * 1024,
            "session.timeout.ms": int(session_timeout_s * 1000),
            "max.poll.interval.ms": 600_000,
            "enable.partition.eof": True,  # a caught-up partition writes its batch at once
        })

    # -- ClickHouse side ---------------------------------------------------------

    def _retry(self, what: str, action: Callable[[], T]) -> T:
        """Run ``action`` until it works, backing off (the consumer pauses once the insert
        thread has ``IN_FLIGHT`` batches waiting)."""
        backoff = 0.2
        while True:
            try:
                if self._writer is None:
                    self._writer = ClickHouseWriter(self._connect())
                result = action()
                metrics.SINK_BLOCKED.set(0)
                self.health.unblocked()
                return result
            except RowsRefused:
                raise  # refused for good: the caller decides what becomes of the rows
            except Exception as exc:  # noqa: BLE001 - retried until it works: never dropped
                if self._stop.is_set():
                    raise SinkStopped(f"stopped while {what}") from exc
                metrics.SINK_RETRIES.inc()
                metrics.SINK_BLOCKED.set(1)
                self.health.blocked(f"{what}: {exc}")
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, backoff)
                self._writer = None  # reconnect on the next attempt
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _writer_now(self) -> ClickHouseWriter:
        assert self._writer is not None
        return self._writer

    def _load_plans(self, partitions: list[int]) -> None:
        """Recorded batches at or after the committed offsets: replay them exactly."""
        if not partitions:
            return
        committed = self.consumer.committed([TopicPartition(self.topic, p) for p in partitions],
                                            timeout=30)
        for tp in committed:
            start = tp.offset if tp.offset >= 0 else 0

            def recorded(tp: TopicPartition = tp, start: int = start) -> Sequence[Sequence[Any]]:
                return self._writer_now().client.query(
                    "SELECT first_offset, max(last_offset) FROM sink_batches WHERE consumer_group"
                    " = {g:String} AND topic = {t:String} AND partition = {p:UInt32} AND "
                    "first_offset >= {o:UInt64} GROUP BY first_offset",
                    parameters={"g": self.group, "t": self.topic, "p": tp.partition, "o": start},
                ).result_rows

            rows = self._retry(f"reading recorded batches of partition {tp.partition}", recorded)
            self._plans[tp.partition] = {int(first): int(last) for first, last in rows}
            if rows:
                log.info("partition %d: replaying %d recorded batch(es) from offset %d",
                         tp.partition, len(rows), start)

    # -- Kafka side ----------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._written(wait=True)  # one ClickHouse call at a time (a server session is serial)
        new = [tp.partition for tp in partitions]
        self._assigned.update(new)
        self._load_plans(new)
        self.health.assigned(sorted(self._assigned))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # batches in flight are recorded and written before the partitions go (the next
        # owner replays what is recorded and not committed); then their offsets commit
        self._written(wait=True)
        self._forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # no longer ours: whatever is in flight lands (recorded, so replayed with the same
        # token by the next owner) but commits nothing
        for tp in partitions:
            self._assigned.discard(tp.partition)
        self._written(wait=True)
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:  # not written, not committed: the next owner reads them again
            self._pending.pop(tp.partition, None)
            self._plans.pop(tp.partition, None)
            self._assigned.discard(tp.partition)
        self.health.assigned(sorted(self._assigned))

    def _add(self, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        pending = self._pending.get(partition)
        if pending is None:
            plan = self._plans.get(partition, {})
            pending = Pending(first_offset=offset, started=time.monotonic(),
                              target_last=plan.pop(offset, None))
            self._pending[partition] = pending
        try:
            if value is None:
                raise ValueError("a record without a value")
            event_row, items = rows_for(value)
            pending.rows.append(Row(offset, key, value, event_row, items))
        except Exception as exc:  # noqa: BLE001 - whatever it is, it is not a canonical event
            pending.refused.append((offset, key, value or b"", f"not a canonical event: {exc}"))
        pending.last_offset = offset
        if pending.target_last is not None:
            if offset >= pending.target_last:
                self._flush(partition)
        elif len(pending.rows) + len(pending.refused) >= self.batch_rows:
            self._flush(partition)

    def _caught_up(self, partition: int | None) -> None:
        """Nothing more to read in ``partition`` for now: a batch of a useful size is
        written at once rather than at its age (a replayed batch keeps its recorded end)."""
        if partition is None:
            return
        pending = self._pending.get(partition)
        if (pending is not None and pending.target_last is None
                and len(pending.rows) + len(pending.refused) >= EAGER_FLUSH_ROWS):
            self._flush(partition)

    def _flush(self, partition: int) -> None:
        """Hand the partition's batch to the insert thread (waiting, consumption paused,
        while ``IN_FLIGHT`` batches are ahead of it)."""
        pending = self._pending.pop(partition)
        backoff = 0.05
        while self._lane.full():
            self._written()
            if self._lane.full():
                self._pause_and_wait(backoff)
                backoff = min(backoff * 2, 1.0)
        self._lane.submit(partial(self._write_batch, partition, pending))
        self._written()

    def _written(self, wait: bool = False) -> None:
        """Commit the offsets after the batches written (in the consumer's thread)."""
        done = self._lane.finished(wait)
        latest: dict[int, Written] = {}
        for written in done:
            latest[written.partition] = written
            self.health.progressed(written.records)
        commits = [TopicPartition(self.topic, w.partition, w.next_offset)
                   for w in latest.values() if w.partition in self._assigned]
        if commits:
            self._commit(commits)
            self.health.committed()

    def _write_batch(self, partition: int, pending: Pending) -> Written:
        """In the insert thread: dead letters first, then the batch. A batch ClickHouse
        refuses for good is written row by row, and the rows it refuses become dead
        letters: the partition never stalls on them."""
        token = batch_token(self.group, self.topic, partition, pending.first_offset,
                            pending.last_offset)

        def record() -> None:
            if pending.target_last is None:
                self._writer_now().client.insert(
                    "sink_batches",
                    [[self.group, self.topic, partition, pending.first_offset,
                      pending.last_offset, len(pending.rows)]],
                    column_names=["consumer_group", "topic", "partition", "first_offset",
                                  "last_offset", "rows"],
                )
                pending.target_last = pending.last_offset  # recorded: a retry must not re-record

        self._retry(f"recording batch {token}", record)
        refused = list(pending.refused)
        written = 0
        try:
            seconds = self._retry(f"writing batch {token}", partial(self._write, pending.batch(token)))
            written = len(pending.rows)
        except RowsRefused as exc:
            log.warning("%s; writing its %d rows one by one", exc, len(pending.rows))
            started = time.perf_counter()
            for row in pending.rows:
                single = pending.batch(f"{token}/{row.offset}", [row])
                try:
                    self._retry(f"writing row {single.token}", partial(self._write, single))
                    written += 1
                except RowsRefused as row_exc:
                    refused.append((row.offset, row.key, row.value,
                                    f"refused by ClickHouse: {row_exc.__cause__ or row_exc}"))
            seconds = time.perf_counter() - started
        if refused:
            self.dead_letters.send(self.topic, partition, refused, self._stop)
        metrics.SINK_INSERT_SECONDS.observe(seconds)
        metrics.SINK_BATCH_ROWS.observe(written)
        metrics.SINK_ROWS.labels("events").inc(written)
        metrics.SINK_ROWS.labels("order_items").inc(
            sum(len(r.items) for r in pending.rows) if written == len(pending.rows) else 0)
        return Written(partition, pending.last_offset + 1, len(pending.rows) + len(pending.refused))

    def _write(self, batch: Batch) -> float:
        return self._writer_now().write(batch)

    def _commit(self, offsets: list[TopicPartition]) -> None:
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except Exception as exc:  # noqa: BLE001 - a later commit covers it; replay is deduplicated
            log.warning("commit of %s failed: %s",
                        ", ".join(f"{tp.partition}@{tp.offset}" for tp in offsets), exc)

    def _pause_and_wait(self, seconds: float) -> None:
        assigned = [TopicPartition(self.topic, p) for p in self._assigned]
        if assigned:
            self.consumer.pause(assigned)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            # keeps the group membership; paused partitions return nothing, but one
            # assigned during this poll may: rewind it so that nothing is skipped
            message = self.consumer.poll(0.1)
            if message is not None and message.error() is None:
                tp = TopicPartition(self.topic, *located(message))
                self.consumer.seek(tp)
                self.consumer.pause([tp])
                assigned.append(tp)
        if assigned:
            self.consumer.resume(assigned)

    def _update_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_checked < 5:
            return
        self._lag_checked = now
        for partition in list(self._assigned):
            tp = TopicPartition(self.topic, partition)
            try:
                _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
                position = self.consumer.position([tp])[0].offset
            except Exception:  # noqa: BLE001 - a metric only
                continue
            if high >= 0 and position >= 0:
                metrics.SINK_LAG.labels(str(partition)).set(max(high - position, 0))

    # -- loop ------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._retry("connecting to ClickHouse", lambda: None)
        except SinkStopped:
            self.consumer.close()
            return
        self.consumer.subscribe([self.topic], on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)
        self.health.running()
        try:
            while not self._stop.is_set():
                for message in self.consumer.consume(num_messages=self.batch_rows, timeout=0.1):
                    error = message.error()
                    if error is not None:
                        if error.fatal():  # the consumer cannot go on: the worker restarts
                            raise RuntimeError(f"sink consumer: {error}")
                        if error.code() == KafkaError._PARTITION_EOF:
                            self._caught_up(message.partition())
                        else:
                            self.log_limited.warning("sink consumer: %s", error)
                        continue
                    partition, offset = located(message)
                    self._add(partition, offset, message.key(), message.value())
                now = time.monotonic()
                for partition, pending in list(self._pending.items()):
                    if (pending.target_last is None and partition in self._pending
                            and now - pending.started >= self.batch_seconds):
                        self._flush(partition)
                self._written()
                self._update_lag()
            for partition in list(self._pending):
                if self._pending[partition].target_last is None:
                    self._flush(partition)
            self._written(wait=True)
            self.health.stopped()
        except SinkStopped as exc:
            log.info("sink stopped with a batch unwritten (%s); it is replayed on restart", exc)
            self.health.stopped()
        except Exception as exc:
            self.health.failed(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._stop.set()  # an insert still retrying gives up: its batch is replayed
            self._lane.close()
            self.consumer.close()
            self.dead_letters.close()

    def stop(self) -> None:
        self._stop.set()


def start_sink_thread(sink: KafkaSink) -> threading.Thread:
    thread = threading.Thread(target=sink.run, name="clickhouse-sink", daemon=True)
    thread.start()
    return thread
