"""The topic follower's reading loop against a consumer that plays the broker's answers (the
real broker's cases are in tests/integration/test_follower.py): errors reported while the
broker is away and cleared once it answers, a new consumer starting where the last one
stopped, and /health naming several followers of one topic apart."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError

from streams.kafka import follower as follower_module
from streams.kafka.follower import TopicFollower, followers_health


@dataclass
class Msg:
    partition_: int | None = 0
    offset_: int | None = 0
    key_: bytes | None = b"k"
    value_: bytes | None = b"v"
    error_: KafkaError | None = None

    def error(self) -> KafkaError | None:
        return self.error_

    def partition(self) -> int | None:
        return self.partition_

    def offset(self) -> int | None:
        return self.offset_

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_


class PlayedConsumer:
    """Answers ``consume`` from a script of batches; stops the follower at its end."""

    def __init__(self, follower: TopicFollower, batches: list[list[Msg] | KafkaError],
                 answers_once_assigned: bool = True) -> None:
        self.follower, self.batches = follower, list(batches)
        self.topic_answers, self.answers_once_assigned = True, answers_once_assigned
        self.assigned: list[Any] = []
        self.errors_seen: list[str | None] = []

    def list_topics(self, topic: str, timeout: float) -> Any:
        if not self.topic_answers:
            raise follower_module.KafkaException(KafkaError(KafkaError._TRANSPORT))
        meta = SimpleNamespace(error=None, partitions={0: object()})
        return SimpleNamespace(topics={topic: meta})

    def get_watermark_offsets(self, tp: Any, timeout: float) -> tuple[int, int]:
        return 0, 10

    def assign(self, partitions: list[Any]) -> None:
        self.assigned = [(tp.partition, tp.offset) for tp in partitions]
        self.topic_answers = self.answers_once_assigned

    def position(self, partitions: list[Any]) -> list[Any]:
        return [SimpleNamespace(partition=tp.partition, offset=0) for tp in partitions]

    def consume(self, count: int, timeout: float) -> list[Msg]:
        self.errors_seen.append(self.follower.error)
        if not self.batches:
            self.follower._running = False
            return []
        batch = self.batches.pop(0)
        if isinstance(batch, KafkaError):  # a client-level error: librdkafka's error_cb,
            self.follower._on_kafka_error(batch)  # served inside consume()
            return []
        return batch


@pytest.fixture
def follower(monkeypatch: pytest.MonkeyPatch) -> TopicFollower:
    monkeypatch.setattr(follower_module, "RECHECK_S", 0.0)
    applied: list[tuple[bytes, bytes | None]] = []
    f = TopicFollower("127.0.0.1:1", "keys", lambda k, v: applied.append((k, v)), "API keys")
    f.applied = applied  # type: ignore[attr-defined]
    f._running = True
    return f


def test_an_error_from_the_broker_shows_until_the_topic_answers_again(follower) -> None:
    down = KafkaError(KafkaError._ALL_BROKERS_DOWN, "all brokers down")
    consumer = PlayedConsumer(follower, [[Msg(offset_=0)], down, [], []],
                              answers_once_assigned=False)
    follower._read(consumer)  # type: ignore[arg-type]
    # the error shows from the error message on, while the topic does not answer
    assert consumer.errors_seen[:2] == [None, None]
    assert all("all brokers down" in (e or "") for e in consumer.errors_seen[2:])
    assert follower.error_since is not None

    consumer = PlayedConsumer(follower, [down, []])  # the broker is back: metadata answers
    follower._running = True
    follower._read(consumer)  # type: ignore[arg-type]
    assert consumer.errors_seen[-1] is None and follower.error_since is None


def test_a_partition_error_shows_until_the_next_record(follower) -> None:
    refused = Msg(error_=KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "not allowed"))
    consumer = PlayedConsumer(follower, [[refused], [Msg(offset_=4)]],
                              answers_once_assigned=False)
    follower._read(consumer)  # type: ignore[arg-type]
    assert "not allowed" in (consumer.errors_seen[1] or "") and consumer.errors_seen[2] is None


def test_a_follower_fails_only_once_its_error_outlasts_the_limit(
        follower, monkeypatch: pytest.MonkeyPatch) -> None:
    follower._thread = SimpleNamespace(is_alive=lambda: True, join=lambda timeout: None)
    now = {"t": 1000.0}
    monkeypatch.setattr(follower_module.time, "monotonic", lambda: now["t"])
    assert not follower.failing(60)
    follower._on_kafka_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "down"))
    now["t"] += 59
    follower._on_kafka_error(KafkaError(KafkaError._TRANSPORT, "still down"))  # since kept
    assert not follower.failing(60)
    now["t"] += 1
    assert follower.failing(60)
    follower.error = None
    assert not follower.failing(60)
    follower._thread = SimpleNamespace(is_alive=lambda: False, join=lambda timeout: None)
    assert follower.failing(60)  # a dead thread fails at once


def test_a_new_consumer_starts_where_the_last_one_stopped(follower) -> None:
    first = PlayedConsumer(follower, [[Msg(offset_=0), Msg(offset_=1, key_=b"k2")]])
    follower._read(first)  # type: ignore[arg-type]
    assert first.assigned == [(0, follower_module.OFFSET_BEGINNING)]
    follower._running = True
    second = PlayedConsumer(follower, [[Msg(offset_=2, key_=b"k3")]])
    follower._read(second)  # type: ignore[arg-type]
    assert second.assigned == [(0, 2)]  # not the beginning: nothing is applied twice
    assert [k for k, _ in follower.applied] == [b"k", b"k2", b"k3"]  # type: ignore[attr-defined]


def test_followers_of_one_topic_are_each_shown() -> None:
    dead = TopicFollower("127.0.0.1:1", "erasures", lambda k, v: None, "erasure list")
    alive = TopicFollower("127.0.0.1:1", "erasures", lambda k, v: None, "erasure list")
    alive._thread = SimpleNamespace(is_alive=lambda: True,  # type: ignore[assignment]
                                    join=lambda timeout: None)
    with follower_module._RUNNING_LOCK:
        follower_module._RUNNING.update([dead, alive])
    try:
        ok, report = followers_health(60)
    finally:
        dead.stop()
        alive.stop()
    assert not ok
    ours = {name: s["alive"] for name, s in report.items() if name.startswith("erasure list")}
    assert sorted(ours.values()) == [False, True] and len(ours) == 2, report
