"""The parts of the Kafka -> ClickHouse sink that hold no Kafka client: a partition's
pending batch, what was written, the insert thread, the batch token, the health contract,
and the ClickHouse connection that retries until a write goes through."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

from sinks import metrics
from sinks.dead_letters import Refused, SinkStopped
from sinks.errors import RowsRefused
from sinks.writer import ClickHouseWriter, Rows, TableBatch, Target

log = logging.getLogger(__name__)
T = TypeVar("T")

IN_FLIGHT = 2  # batches queued or being written before consumption pauses
INSERT_NICE = 10  # the insert thread's CPU priority, below the stream stages' (0)

TopicPartitionKey = tuple[str, int]


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
    def warn(self, message: str) -> None: ...


class NoHealth:
    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


@dataclass
class Row:
    """One consumed record and the rows it becomes, one list per target."""

    offset: int
    key: bytes | None
    value: bytes
    rows: tuple[Rows, ...]


@dataclass
class Pending:
    first_offset: int
    started: float = field(default_factory=time.monotonic)
    last_offset: int = -1
    target_last: int | None = None  # set when replaying a recorded batch
    caught_up: bool = False  # the partition had nothing more to read since the batch began
    rows: list[Row] = field(default_factory=list)
    # records the source cannot read: (offset, key, value, reason)
    refused: list[Refused] = field(default_factory=list)

    def size(self) -> int:
        return len(self.rows) + len(self.refused)

    def batch(self, token: str, targets: tuple[Target, ...], rows: list[Row] | None = None,
              only: tuple[Target, ...] | None = None) -> TableBatch:
        """The rows (all of the batch's by default) for ``targets``, or for those of them in
        ``only``."""
        rows = self.rows if rows is None else rows
        return TableBatch(token, [(target, [r for row in rows for r in row.rows[index]])
                                  for index, target in enumerate(targets)
                                  if only is None or target in only])


@dataclass(frozen=True)
class Written:
    """What the insert thread did with one batch: the offset to commit after it."""

    topic: str
    partition: int
    next_offset: int
    records: int


def _yield_cpu() -> None:
    """Run this thread at a lower CPU priority (nice 10): an insert (an embedded ClickHouse
    inserts with the caller's thread) then takes the cores the stream stages leave, instead
    of delaying their commits, so triggers and funnels stay prompt while ClickHouse catches
    up. Where the system does not allow it, nothing changes."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), INSERT_NICE)
    except (AttributeError, OSError):
        pass


class InsertLane:
    """One thread that writes batches in the order given; at most ``limit`` in flight. The
    thread runs at a lower CPU priority than the stream stages (:func:`_yield_cpu`)."""

    def __init__(self, limit: int = IN_FLIGHT, name: str = "clickhouse-insert") -> None:
        self.limit = limit
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name,
                                        initializer=_yield_cpu)
        self._in_flight: deque[Future[Written]] = deque()

    def submit(self, job: Callable[[], Written]) -> None:
        self._in_flight.append(self._pool.submit(job))

    def full(self) -> bool:
        return len(self._in_flight) >= self.limit

    def busy(self) -> bool:
        return bool(self._in_flight)

    def wait_oldest(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the oldest batch in flight; whether it is done."""
        if not self._in_flight:
            return True
        done, _ = wait([self._in_flight[0]], timeout=timeout)
        return bool(done)

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


def located(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed record (librdkafka sets them on every one
    that is not an error)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None, \
        "a consumed record has a position"
    return topic, partition, offset


def recorded_batches(client: Callable[[], Client], group: str, topic: str, partition: int,
                     start: int) -> dict[int, int]:
    """The batches recorded in ``sink_batches`` for a partition from ``start``: first offset
    -> last offset (a batch recorded but not committed is replayed over exactly these)."""
    rows = client().query(
        "SELECT first_offset, max(last_offset) FROM sink_batches WHERE consumer_group"
        " = {g:String} AND topic = {t:String} AND partition = {p:UInt32} AND "
        "first_offset >= {o:UInt64} GROUP BY first_offset",
        parameters={"g": group, "t": topic, "p": partition, "o": start},
    ).result_rows
    return {int(first): int(last) for first, last in rows}


class RetryingWriter:
    """The sink's ClickHouse writer, (re)connected on demand; :meth:`retry` runs an action
    until it works, backing off up to ``max_backoff`` s: nothing is ever dropped."""

    def __init__(self, connect: Callable[[], Client], stop: threading.Event,
                 health: HealthReporter, max_backoff: float) -> None:
        self.connect, self.stop, self.health, self.max_backoff = connect, stop, health, max_backoff
        self._writer: ClickHouseWriter | None = None

    def writer(self) -> ClickHouseWriter:
        assert self._writer is not None
        return self._writer

    def retry(self, what: str, action: Callable[[], T]) -> T:
        backoff = 0.2
        while True:
            try:
                if self._writer is None:
                    self._writer = ClickHouseWriter(self.connect())
                result = action()
                metrics.SINK_BLOCKED.set(0)
                self.health.unblocked()
                return result
            except RowsRefused:
                raise  # refused for good: the caller decides what becomes of the rows
            except Exception as exc:  # noqa: BLE001 - retried until it works: never dropped
                if self.stop.is_set():
                    raise SinkStopped(f"stopped while {what}") from exc
                metrics.SINK_RETRIES.inc()
                metrics.SINK_BLOCKED.set(1)
                self.health.blocked(f"{what}: {exc}")
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, backoff)
                self._writer = None  # reconnect on the next attempt
                self.stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
