"""Helpers shared by integration tests and benchmarks: workers as real processes,
reading topics to their end, and waiting on conditions with a deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from deploy.local.broker import free_port
from streams.kafka.group_offsets import offsets_reader
from streams.monitoring.scrape import fetch_metrics, total

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]


def wait_for(condition: Callable[[], T], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s. A
    condition that cannot be read yet (a busy worker's page timing out: ``OSError``) is not
    met yet; the failure shows that error when it was the last thing seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except OSError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def wait_until_equal(get: Callable[[], Any], expected: Any, timeout: float, what: str,
                     every: float = 0.2) -> None:
    """Poll ``get()`` until it equals ``expected``; the failure names the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = get()
        except OSError as exc:  # not readable yet (see wait_for)
            last = exc
        else:
            if last == expected:
                return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: "
                         f"expected {expected!r}, last saw {last!r}")


def wait_until_stable(get: Callable[[], T], timeout: float, what: str, every: float = 2.0) -> T:
    """Poll ``get()`` until two reads ``every`` seconds apart are equal and truthy; the
    failure names the last two values seen."""
    deadline = time.monotonic() + timeout
    before: Any = None
    while time.monotonic() < deadline:
        now = get()
        if now and now == before:
            return now
        before = now
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} to settle "
                         f"(last: {before!r})")


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def end_offsets(bootstrap: str, topic: str) -> dict[int, tuple[int, int]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "shopstream-tests-peek"})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                for p in partitions}
    finally:
        consumer.close()


def group_committed(bootstrap: str, group: str, topic: str) -> int:
    """The consumer group's committed offsets on ``topic``, summed over partitions (grows
    across restarts, unlike a process's counters)."""
    consumer = offsets_reader(bootstrap, group)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    except KafkaException as exc:  # the coordinator busy: nothing known yet, ask again
        print(f"committed offsets of {group} not read ({exc}); asking again", flush=True)
        return -1
    finally:
        consumer.close()
    return sum(max(tp.offset, 0) for tp in committed)


def group_caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Whether the consumer group has committed past every committed record of ``topic``."""
    last: dict[int, int] = {}
    for record in read_topic(bootstrap, topic):
        last[record.partition] = max(last.get(record.partition, -1), record.offset)
    consumer = offsets_reader(bootstrap, group)
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in last], timeout=10)
    except KafkaException as exc:  # the coordinator busy (a rebalance, a loaded machine)
        print(f"committed offsets of {group} not read ({exc}); asking again", flush=True)
        return False
    finally:
        consumer.close()
    return all(tp.offset > last[tp.partition] for tp in committed)


def count(bootstrap: str, topic: str) -> int:
    """Records in ``topic`` (transaction markers occupy offsets too, so records are read)."""
    return len(read_topic(bootstrap, topic))


def read_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Record]:
    """Every committed record currently in ``topic``, up to the high watermarks of now."""
    ends = {p: hw for p, (low, hw) in end_offsets(bootstrap, topic).items() if hw > low}
    if not ends:
        return []
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "shopstream-tests-read",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed"})
    tps = [TopicPartition(topic, p, 0) for p in ends]
    consumer.assign(tps)
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            for msg in consumer.consume(1000, timeout=0.2):
                if msg.error() is None and msg.offset() < ends[msg.partition()]:
                    records.append(Record(topic, msg.partition(), msg.offset(), msg.key(),
                                          msg.value()))
            positions = {tp.partition: tp.offset for tp in consumer.position(tps)}
            if all(positions[p] >= ends[p] for p in ends):
                return records
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end within {timeout}s")
    finally:
        consumer.close()


@dataclass
class WorkerProcess:
    """``shopstream worker`` in a child process, as an operator would run it."""

    bootstrap: str
    prefix: str
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"worker-{self.starts}.log"

    def start(self, timeout: float = 120.0) -> WorkerProcess:
        self.port = free_port()
        self.starts += 1
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "KAFKA_BOOTSTRAP": self.bootstrap,
               "SHOPSTREAM_TOPIC_PREFIX": self.prefix, "SHOPSTREAM_DATA_DIR": str(self.data_dir),
               "SHOPSTREAM_WEB_PORT": str(self.port), **self.env}
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "worker"],
                                        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        raw = f"{self.prefix}shop.events.raw"
        wait_for(lambda: self._assigned(raw), timeout, f"worker to own {raw} ({self.log_path})")
        return self

    def _assigned(self, topic: str) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=1) as response:
                health = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return any(p.startswith(f"{topic}:") for p in health["assigned_partitions"])

    def health(self) -> dict[str, Any]:
        """The worker's ``/health`` body (503, unhealthy, answers one too)."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=5) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))

    def metric(self, name: str, **labels: str) -> float:
        # a loaded worker's page (its own and its stage processes') may take seconds
        return total(fetch_metrics(f"{self.base_url}/metrics", timeout=10.0), name, **labels)

    def sql(self, query: str) -> list[dict[str, Any]]:
        """Rows of a read-only query, through the worker that owns the embedded ClickHouse."""
        url = f"{self.base_url}/sql?" + urllib.parse.urlencode({"q": query})
        with urllib.request.urlopen(url, timeout=60) as response:
            body = json.loads(response.read())
        return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]

    def sql_or_none(self, query: str) -> list[dict[str, Any]] | None:
        try:
            return self.sql(query)
        except (urllib.error.URLError, OSError):
            return None

    def diagnosis(self) -> str:
        """What the worker says about itself, for a failure message."""
        try:
            m = fetch_metrics(f"{self.base_url}/metrics")
            figures = {name: total(m, name) for name in (
                "shopstream_events_in_total", "shopstream_events_out_total",
                "shopstream_sink_rows_total", "shopstream_sink_retries_total",
                "shopstream_sink_blocked", "shopstream_live_events_total",
                "shopstream_consumer_lag")}
        except (urllib.error.URLError, OSError) as exc:
            figures = {"metrics": f"unavailable: {exc}"}
        return f"{figures}\n{self.log_tail(25)}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 120.0) -> int:
        """SIGTERM, as an orchestrator stops a pod; the worker commits and exits."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed or committed on the way out."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


def ingest_events(client: Any, tmp_path: Path, events: list[dict[str, Any]],
                  now: Any) -> tuple[Any, Path]:
    """``events`` written as JSON lines and loaded with ``ingest`` into ``client``'s
    ClickHouse; the ingest summary and the dead-letter file."""
    import orjson

    from models.validation import Rules
    from sinks.writer import ClickHouseWriter
    from streams.sources.ingest import ingest

    source, dead = tmp_path / "shop.jsonl", tmp_path / "dead.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    return ingest(source, "jsonl", ClickHouseWriter(client), Rules(), dead, now=lambda: now), dead


class GroupTransactions:
    """Commits a consumer group's offsets on one input topic the way a stage does: each in a
    transaction that also writes an output record (to ``out``), left open until
    :meth:`commit` or :meth:`abort`."""

    def __init__(self, bootstrap: str, group: str, topic: str, out: str) -> None:
        self.topic, self.out = topic, out
        self.producer = Producer({"bootstrap.servers": bootstrap,
                                  "transactional.id": f"{group}-tx"})
        self.producer.init_transactions(30)
        self.member = Consumer({"bootstrap.servers": bootstrap, "group.id": group})

    def open(self, offset: int) -> None:
        """Begin a transaction holding an output record and offset ``offset`` of partition 0."""
        self.producer.begin_transaction()
        self.producer.produce(self.out, b"output")
        self.producer.send_offsets_to_transaction([TopicPartition(self.topic, 0, offset)],
                                                  self.member.consumer_group_metadata(), 30)
        self.producer.flush(30)

    def commit(self) -> None:
        self.producer.commit_transaction(30)

    def abort(self) -> None:
        self.producer.abort_transaction(30)

    def close(self) -> None:
        self.member.close()


def delete_topics(bootstrap: str, prefix: str, timeout: float = 30.0) -> list[str]:
    """Delete every topic whose name starts with ``prefix``; the names it could not delete
    (a broker that went away, a deletion still under way) are returned, not raised: a test
    or a benchmark tidying up after itself must not fail for it."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        names = [t for t in admin.list_topics(timeout=timeout).topics if t.startswith(prefix)]
    except KafkaException:
        return [f"{prefix}*"]
    left = []
    for name, future in (admin.delete_topics(names, operation_timeout=timeout).items()
                         if names else []):
        try:
            future.result(timeout)
        except KafkaException:
            left.append(name)
    return left
