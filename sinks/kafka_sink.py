"""The ClickHouse sink: topics -> tables, exactly once.

One class serves every sink of the worker: ``shop.events`` -> ``events`` and
``order_items`` (the default :data:`~sinks.writer.EVENT_ROWS`), the trigger topics ->
``triggers``, the dead-letter topics -> ``dead_letters``: what it writes is the
:class:`~sinks.writer.RowSource` it is given. A plain confluent-kafka consumer in a thread
of the worker process (measured faster than a Faust agent for this job, and it gives
exact control of commits):

- messages are batched per partition, flushed at ``sink_batch_rows`` rows, at
  ``sink_batch_seconds`` of age once the partition has caught up (10 times that while it is
  behind), or as soon as it has nothing more to read and holds ``EAGER_FLUSH_ROWS`` rows;
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
  a partition lost without a revoke does not commit;
- a record the source cannot read (or rows ClickHouse refuses for good) goes to the
  dead-letter topic, or, for the sink *of* the dead-letter topics (``dlq_topic`` None),
  is logged and counted: a dead letter is never dead-lettered again.

Batches are per partition, never combined across partitions: a replay must rebuild a
recorded batch exactly (its token), and after a rebalance another worker may own some
of the partitions a combined batch held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaError, TopicPartition

from models.logs import RateLimitedLog
from sinks import metrics
from sinks.dead_letters import DeadLetterSender, Refused, SinkStopped
from sinks.errors import RowsRefused
from sinks.offsets import COMMIT_TIMEOUT_S, commit_offsets, partition_lags, warn_if_shared
from sinks.sink_lane import (
    HealthReporter,
    InsertLane,
    NoHealth,
    Pending,
    RetryingWriter,
    Row,
    TopicPartitionKey,
    Written,
    batch_token,
    located,
    recorded_batches,
)
from sinks.writer import EVENT_ROWS, RowSource, TableBatch

log = logging.getLogger(__name__)
T = TypeVar("T")

EAGER_FLUSH_ROWS = 1_000  # a caught-up partition's batch is written at this size, not later
# a partition behind its input fills its batch towards sink_batch_rows (fewer, larger inserts),
# written by age only at this many times sink_batch_seconds
BACKLOG_AGES = 10
Key = TopicPartitionKey


class KafkaSink:
    """Run with :meth:`run` in a thread; :meth:`stop` flushes, commits and returns.

    ``topic``: one topic or several (the trigger topics); ``rows``: what each record
    becomes; ``dlq_topic``: where records it cannot write go (default ``<topic>.dlq``;
    None: logged and counted only, for the sink of the dead-letter topics);
    ``lag``: the gauge of a partition's lag (default ``shopstream_sink_lag{partition}``)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str | Sequence[str],
        group: str,
        connect: Callable[[], Client],
        batch_rows: int = 10_000,
        batch_seconds: float = 1.0,
        max_backoff: float = 30.0,
        health: HealthReporter | None = None,
        dlq_topic: str | None = "",
        session_timeout_s: float = 30.0,
        rows: RowSource = EVENT_ROWS,
        lag: Callable[[str, int], Any] | None = None,
        name: str = "clickhouse-sink",
        commit_timeout_s: float = COMMIT_TIMEOUT_S,
        shared_warning: str | None = None,
    ) -> None:
        self.health: HealthReporter = health if health is not None else NoHealth()
        self.log_limited = RateLimitedLog(log)
        self.topics = [topic] if isinstance(topic, str) else list(topic)
        self.topic = self.topics[0]
        self.dlq_topic = f"{self.topic}.dlq" if dlq_topic == "" else dlq_topic
        self.dead_letters = (DeadLetterSender(bootstrap, self.dlq_topic)
                             if self.dlq_topic is not None else None)
        self.source = rows
        self._unreadable = ("not a canonical event" if rows.targets == EVENT_ROWS.targets else
                            f"no row for {', '.join(t.table for t in rows.targets)}")
        self.group = group
        self.name = name
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.commit_timeout_s = commit_timeout_s
        self.shared_warning = shared_warning  # said while the group shares the partitions
        self._lag = lag or (lambda _topic, partition: metrics.SINK_LAG.labels(str(partition)))
        self._stop = threading.Event()
        self._clickhouse = RetryingWriter(connect, self._stop, self.health, max_backoff)
        self._pending: dict[Key, Pending] = {}
        self._plans: dict[Key, dict[int, int]] = {}  # (topic, partition) -> {first: last offset}
        self._assigned: set[Key] = set()
        self._lag_checked = 0.0
        self._lane = InsertLane(name=f"{name}-insert")
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
        return self._clickhouse.retry(what, action)

    def _load_plans(self, keys: list[Key]) -> None:
        """Recorded batches at or after the committed offsets: replay them exactly."""
        if not keys:
            return
        committed = self.consumer.committed([TopicPartition(t, p) for t, p in keys], timeout=30)
        for tp in committed:
            start = tp.offset if tp.offset >= 0 else 0
            rows = self._retry(f"reading recorded batches of {tp.topic}[{tp.partition}]", partial(
                recorded_batches, lambda: self._clickhouse.writer().client, self.group, tp.topic,
                tp.partition, start))
            self._plans[(tp.topic, tp.partition)] = rows
            if rows:
                log.info("%s[%d]: replaying %d recorded batch(es) from offset %d",
                         tp.topic, tp.partition, len(rows), start)

    # -- Kafka side ----------------------------------------------------------------

    def _report_assigned(self) -> None:
        self.health.assigned(sorted({partition for _topic, partition in self._assigned}))
        if self.shared_warning is not None and self._assigned:
            warn_if_shared(self.consumer, self.topics, len(self._assigned), self.name,
                           self.shared_warning, self.health.warn)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._written(wait=True)  # one ClickHouse call at a time (a server session is serial)
        new = [(tp.topic, tp.partition) for tp in partitions]
        self._assigned.update(new)
        self._load_plans(new)
        self._report_assigned()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # batches in flight are recorded and written before the partitions go (the next
        # owner replays what is recorded and not committed); then their offsets commit
        self._written(wait=True)
        self._forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # no longer ours: whatever is in flight lands (recorded, so replayed with the same
        # token by the next owner) but commits nothing
        for tp in partitions:
            self._assigned.discard((tp.topic, tp.partition))
        self._written(wait=True)
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:  # not written, not committed: the next owner reads them again
            key = (tp.topic, tp.partition)
            self._pending.pop(key, None)
            self._plans.pop(key, None)
            self._assigned.discard(key)
        self._report_assigned()

    def _add(self, key: Key, offset: int, record_key: bytes | None, value: bytes | None) -> None:
        pending = self._pending.get(key)
        if pending is None:
            plan = self._plans.get(key, {})
            pending = Pending(first_offset=offset, target_last=plan.pop(offset, None))
            self._pending[key] = pending
        try:
            if value is None:
                raise ValueError("a record without a value")
            pending.rows.append(Row(offset, record_key, value,
                                    self.source.build(value, *key, offset)))
        except Exception as exc:  # noqa: BLE001 - whatever it is, the source cannot read it
            pending.refused.append((offset, record_key, value or b"", f"{self._unreadable}: {exc}"))
        pending.last_offset = offset
        if pending.target_last is not None:
            if offset >= pending.target_last:
                self._flush(key)
        elif pending.size() >= self.batch_rows:
            self._flush(key)

    def _caught_up(self, key: Key) -> None:
        """Nothing more to read in this partition for now: a batch of a useful size is written
        at once, a smaller one at its age (a replayed batch keeps its recorded end)."""
        pending = self._pending.get(key)
        if pending is not None and pending.target_last is None:
            pending.caught_up = True
            if pending.size() >= EAGER_FLUSH_ROWS:
                self._flush(key)

    def _flush(self, key: Key) -> None:
        """Hand the partition's batch to the insert thread (waiting, consumption paused,
        while ``IN_FLIGHT`` batches are ahead of it)."""
        pending = self._pending.pop(key)
        while self._lane.full():
            # the next batch is handed over the moment a slot frees; while the insert thread
            # is slow or retrying, a paused poll keeps the group membership
            if not self._lane.wait_oldest(1.0):
                self._pause_and_wait(0.1)
            self._written()
        self._lane.submit(partial(self._write_batch, key, pending))
        self._written()

    def _written(self, wait: bool = False) -> None:
        """Commit the offsets after the batches written (in the consumer's thread)."""
        done = self._lane.finished(wait)
        latest: dict[Key, Written] = {}
        for written in done:
            latest[(written.topic, written.partition)] = written
            self.health.progressed(written.records)
        commits = [TopicPartition(w.topic, w.partition, w.next_offset)
                   for key, w in latest.items() if key in self._assigned]
        if commits:
            self._commit(commits)
            self.health.committed()

    def _write_batch(self, key: Key, pending: Pending) -> Written:
        """In the insert thread: dead letters first, then the batch. A batch ClickHouse
        refuses for good is written row by row, and the rows it refuses become dead
        letters: the partition never stalls on them."""
        topic, partition = key
        token = batch_token(self.group, topic, partition, pending.first_offset,
                            pending.last_offset)
        targets = self.source.targets

        def record() -> None:
            if pending.target_last is None:
                self._clickhouse.writer().client.insert(
                    "sink_batches",
                    [[self.group, topic, partition, pending.first_offset,
                      pending.last_offset, len(pending.rows)]],
                    column_names=["consumer_group", "topic", "partition", "first_offset",
                                  "last_offset", "rows"],
                )
                pending.target_last = pending.last_offset  # recorded: a retry must not re-record

        self._retry(f"recording batch {token}", record)
        refused = list(pending.refused)
        written: list[Row] = []
        try:
            seconds = self._retry(f"writing batch {token}",
                                  partial(self._write, pending.batch(token, targets)))
            written = pending.rows
        except RowsRefused as exc:
            # the tables the whole batch did write keep its rows (a row again under a token
            # of its own would be there twice): one by one, only the others
            left = tuple(target for target in targets if target.table not in exc.written)
            log.warning("%s; writing its %d rows one by one into %s", exc, len(pending.rows),
                        ", ".join(target.table for target in left))
            started = time.perf_counter()
            for row in pending.rows:
                single = pending.batch(f"{token}/{row.offset}", targets, [row], only=left)
                try:
                    self._retry(f"writing row {single.token}", partial(self._write, single))
                    written.append(row)
                except RowsRefused as row_exc:
                    refused.append((row.offset, row.key, row.value,
                                    f"refused by ClickHouse: {row_exc.__cause__ or row_exc}"))
            seconds = time.perf_counter() - started
        if refused:
            self._dead_letter(topic, partition, refused)
        metrics.SINK_INSERT_SECONDS.observe(seconds)
        metrics.SINK_BATCH_ROWS.observe(len(written))
        for index, target in enumerate(targets):
            metrics.SINK_ROWS.labels(target.table).inc(sum(len(r.rows[index]) for r in written))
        return Written(topic, partition, pending.last_offset + 1, pending.size())

    def _dead_letter(self, topic: str, partition: int, refused: list[Refused]) -> None:
        if self.dead_letters is not None:
            self.dead_letters.send(topic, partition, refused, self._stop)
            return
        for offset, _key, _value, reason in refused:  # the dead letters' own sink: log only
            metrics.SINK_DEAD_LETTERS.inc()
            log.error("%s[%d]@%d skipped by the %s: %s", topic, partition, offset, self.name,
                      reason[:200])

    def _write(self, batch: TableBatch) -> float:
        return self._clickhouse.writer().write(batch)

    def _commit(self, offsets: list[TopicPartition]) -> None:
        commit_offsets(self.consumer, offsets, self.commit_timeout_s)

    def _pause_and_wait(self, seconds: float) -> None:
        assigned = [TopicPartition(t, p) for t, p in self._assigned]
        if assigned:
            self.consumer.pause(assigned)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            # keeps the group membership; paused partitions return nothing, but one
            # assigned during this poll may: rewind it so that nothing is skipped
            message = self.consumer.poll(0.1)
            if message is not None and message.error() is None:
                tp = TopicPartition(*located(message))
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
        for topic, partition, lag in partition_lags(self.consumer, list(self._assigned)):
            self._lag(topic, partition).set(lag)

    # -- loop ------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._retry("connecting to ClickHouse", lambda: None)
        except SinkStopped:
            self.consumer.close()
            return
        self.consumer.subscribe(self.topics, on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)
        self.health.running()
        try:
            while not self._stop.is_set():
                for message in self.consumer.consume(num_messages=self.batch_rows, timeout=0.1):
                    error = message.error()
                    if error is not None:
                        if error.fatal():  # the consumer cannot go on: the worker restarts
                            raise RuntimeError(f"{self.name} consumer: {error}")
                        if error.code() == KafkaError._PARTITION_EOF:
                            topic, partition = message.topic(), message.partition()
                            if topic is not None and partition is not None:
                                self._caught_up((topic, partition))
                        else:
                            self.log_limited.warning("%s consumer: %s", self.name, error)
                        continue
                    topic, partition, offset = located(message)
                    self._add((topic, partition), offset, message.key(), message.value())
                now = time.monotonic()
                for key, pending in list(self._pending.items()):  # by age: see BACKLOG_AGES
                    if (pending.target_last is None and key in self._pending and now - pending.started
                            >= self.batch_seconds * (1 if pending.caught_up else BACKLOG_AGES)):
                        self._flush(key)
                self._written()
                self._update_lag()
            for key in list(self._pending):
                if self._pending[key].target_last is None:
                    self._flush(key)
            self._written(wait=True)
            self.health.stopped()
        except SinkStopped as exc:
            log.info("%s stopped with a batch unwritten (%s); it is replayed on restart",
                     self.name, exc)
            self.health.stopped()
        except Exception as exc:
            self.health.failed(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._stop.set()  # an insert still retrying gives up: its batch is replayed
            self._lane.close()
            self.consumer.close()
            if self.dead_letters is not None:
                self.dead_letters.close()

    def stop(self) -> None:
        self._stop.set()

