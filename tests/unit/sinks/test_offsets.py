"""The ClickHouse sink's offsets (``sinks/offsets.py``). The commit: librdkafka's
synchronous commit has no timeout of its own, so the sink bounds it. A commit that fails is
logged and left to the next one (a replay is deduplicated); one that hangs fails the sink
instead of stopping it for ever while its health still reads running. The lag: what each
partition has left to read."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from models.bounded import CallStuck
from sinks.kafka_sink import KafkaSink
from sinks.offsets import partition_lags


class _Consumer:
    """The consumer's commit, as a stuck or failing client would answer it."""

    def __init__(self, hang: threading.Event | None = None, error: Exception | None = None) -> None:
        self.hang, self.error, self.commits = hang, error, []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert asynchronous is False
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])
        if self.hang is not None:
            self.hang.wait(30)
        if self.error is not None:
            raise self.error


def sink_with(consumer: _Consumer, timeout_s: float = 0.3) -> KafkaSink:
    # no broker is contacted: the client connects on first use, and is replaced before that
    sink = KafkaSink("127.0.0.1:9", "shop.events", "g", connect=lambda: None,  # type: ignore[arg-type,return-value]
                     dlq_topic=None, commit_timeout_s=timeout_s)
    real, sink.consumer = sink.consumer, consumer  # type: ignore[assignment]
    real.close()
    return sink


def test_a_commit_that_returns_commits_the_offsets_given() -> None:
    consumer = _Consumer()
    sink_with(consumer)._commit([TopicPartition("shop.events", 3, 120)])
    assert consumer.commits == [[("shop.events", 3, 120)]]


def test_a_commit_that_fails_is_logged_and_left_to_the_next(caplog: pytest.LogCaptureFixture) -> None:
    consumer = _Consumer(error=KafkaException(KafkaError(KafkaError._TRANSPORT)))
    sink_with(consumer)._commit([TopicPartition("shop.events", 0, 7)])
    assert "commit of shop.events[0]@7 failed" in caplog.text


def test_a_commit_that_hangs_fails_the_sink_within_its_timeout() -> None:
    release = threading.Event()
    sink = sink_with(_Consumer(hang=release), timeout_s=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(CallStuck, match="did not return within"):
            sink._commit([TopicPartition("shop.events", 0, 7)])
        assert time.monotonic() - started < 5
    finally:
        release.set()


class _Positions:
    """Cached watermarks and positions, as the consumer holds them; a partition it cannot
    say anything about raises, as librdkafka does for one it does not hold."""

    def __init__(self, known: dict[tuple[str, int], tuple[int, int]]) -> None:
        self.known = known

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool) -> tuple[int, int]:
        assert cached
        if (tp.topic, tp.partition) not in self.known:
            raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION))
        return 0, self.known[(tp.topic, tp.partition)][1]

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        (tp,) = tps
        return [TopicPartition(tp.topic, tp.partition, self.known[(tp.topic, tp.partition)][0])]


def test_the_lag_is_what_each_partition_has_left_and_unknown_positions_are_left_out() -> None:
    consumer = _Positions({("t", 0): (40, 100), ("t", 1): (100, 100), ("t", 2): (-1001, 50),
                           ("t", 3): (120, 100)})
    lags = list(partition_lags(consumer, [("t", 0), ("t", 1), ("t", 2), ("t", 3), ("t", 9)]))  # type: ignore[arg-type]
    assert lags == [("t", 0, 60), ("t", 1, 0), ("t", 3, 0)]


class _Metadata:
    """``list_topics()`` of a broker whose ``shop.events`` has 12 partitions."""

    def __init__(self) -> None:
        self.topics = {"shop.events": type("T", (), {"partitions": dict.fromkeys(range(12))})()}


class _Health:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def assigned(self, partitions: list[int]) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def test_a_sink_that_must_hold_every_partition_says_when_it_holds_some() -> None:
    """With embedded ClickHouse each worker's sink writes its own database: one that holds
    only some partitions (another worker's sink has the rest) says so on /health."""
    real = KafkaSink("127.0.0.1:9", "shop.events", "g", connect=lambda: None,  # type: ignore[arg-type,return-value]
                     dlq_topic=None, shared_warning="split")
    real.consumer.close()
    health = _Health()
    real.consumer = type("C", (), {"list_topics": lambda self, timeout: _Metadata()})()  # type: ignore[assignment]
    real.health = health  # type: ignore[assignment]
    real._assigned = {("shop.events", p) for p in range(12)}
    real._report_assigned()
    assert health.warnings == []
    real._assigned = {("shop.events", p) for p in range(6)}
    real._report_assigned()
    assert health.warnings == ["clickhouse-sink holds 6 of the 12 partitions of shop.events: split"]
