"""When the transactional loop commits: at the end of its interval, or sooner once it has
read everything there is (no broker: the clients are created, never used)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streams.kafka.transactional import LoopConfig, StageFailed, TransactionalLoop
from streams.monitoring.health import StageHealth


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Idle:
    def assigned(self, partitions: list[int]) -> None: ...
    def revoked(self, partitions: list[int]) -> None: ...
    def handle(self, record: object) -> list[object]: return []
    def tick(self, caught_up: set[int]) -> list[object]: return []
    def pending(self) -> bool: return False
    def flush(self) -> list[object]: return []
    def committed(self) -> None: ...


@pytest.fixture
def loop() -> tuple[TransactionalLoop, Clock]:
    clock = Clock()
    config = LoopConfig(bootstrap="127.0.0.1:1", topic="in", group="g", transactional_id="t",
                        commit_interval_s=0.1, commit_min_interval_s=0.02)
    loop = TransactionalLoop(config, Idle(), StageHealth("test"), clock=clock)  # type: ignore[arg-type]
    loop._in_transaction, loop._started_at = True, clock.now
    return loop, clock


def test_a_caught_up_stage_commits_after_the_minimum_interval(loop: tuple[TransactionalLoop, Clock]) -> None:
    stage, clock = loop
    clock.now += 0.01
    assert not stage._due(caught_up=True)
    assert stage._poll_timeout() == pytest.approx(0.01)  # the poll returns when it may commit
    clock.now += 0.01
    assert stage._due(caught_up=True)


def test_a_stage_behind_its_input_commits_at_the_end_of_the_interval(
        loop: tuple[TransactionalLoop, Clock]) -> None:
    stage, clock = loop
    clock.now += 0.05
    assert not stage._due(caught_up=False)
    assert stage._poll_timeout() == 0.0  # no waiting: what is there, then commit if caught up
    clock.now += 0.05
    assert stage._due(caught_up=False)


def test_outside_a_transaction_a_poll_waits_up_to_100_ms(loop: tuple[TransactionalLoop, Clock]) -> None:
    stage, _clock = loop
    stage._in_transaction = False
    assert stage._poll_timeout() == 0.1


class FlakyCommits:
    """A transactional producer whose first commits time out (the broker restarting)."""

    def __init__(self, timeouts: int) -> None:
        self.timeouts, self.calls = timeouts, []

    def send_offsets_to_transaction(self, offsets: object, metadata: object, timeout: float) -> None:
        self.calls.append("send_offsets")

    def commit_transaction(self, timeout: float) -> None:
        self.calls.append("commit")
        if self.timeouts:
            self.timeouts -= 1
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "flush timed out",
                                            retriable=True))

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append("abort")


def test_a_commit_that_timed_out_is_resumed_not_resent_or_aborted(
        loop: tuple[TransactionalLoop, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    # sending the offsets again, or aborting, while librdkafka still has the commit in
    # progress fails with a conflict until the stage is declared stuck
    the_loop, _clock = loop
    producer = FlakyCommits(timeouts=2)
    monkeypatch.setattr(the_loop.transactions, "producer", producer)
    monkeypatch.setattr(the_loop, "consumer", SimpleNamespace(consumer_group_metadata=object))
    monkeypatch.setattr("streams.kafka.transactions.time.sleep", lambda s: None)
    the_loop._offsets = {0: 42}
    the_loop._commit()
    assert producer.calls == ["send_offsets", "commit", "commit", "commit"]
    assert not the_loop._in_transaction and the_loop._offsets == {}


class FlakyInit:
    """A transactional producer whose first init_transactions calls fail."""

    def __init__(self, errors: list[KafkaError]) -> None:
        self.errors, self.calls = list(errors), 0

    def init_transactions(self, timeout: float) -> None:
        self.calls += 1
        if self.errors:
            raise KafkaException(self.errors.pop(0))


def test_a_retriable_init_transactions_failure_is_retried_blocked_meanwhile(
        loop: tuple[TransactionalLoop, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    the_loop, _clock = loop
    seen_blocked: list[str | None] = []
    monkeypatch.setattr("streams.kafka.transactions.time.sleep",
                        lambda s: seen_blocked.append(the_loop.health.blocked_reason))
    producer = FlakyInit([KafkaError(KafkaError._TIMED_OUT, "coordinator not ready",
                                     retriable=True)] * 2)
    monkeypatch.setattr(the_loop.transactions, "producer", producer)
    assert the_loop.transactions.init()
    assert producer.calls == 3
    assert seen_blocked and all("coordinator not ready" in (r or "") for r in seen_blocked)
    assert the_loop.health.blocked_reason is None  # unblocked once it succeeded


def test_a_fatal_init_transactions_failure_is_not_retried(
        loop: tuple[TransactionalLoop, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    the_loop, _clock = loop
    monkeypatch.setattr("streams.kafka.transactions.time.sleep", lambda s: None)
    producer = FlakyInit([KafkaError(KafkaError._FENCED, "fenced", fatal=True)])
    monkeypatch.setattr(the_loop.transactions, "producer", producer)
    with pytest.raises(KafkaException, match="fenced"):
        the_loop.transactions.init()
    assert producer.calls == 1


def test_a_stop_while_init_transactions_is_retried_is_a_stop_not_a_failure(
        loop: tuple[TransactionalLoop, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    the_loop, _clock = loop
    monkeypatch.setattr("streams.kafka.transactions.time.sleep", lambda s: the_loop.stop())
    producer = FlakyInit([KafkaError(KafkaError._TIMED_OUT, "coordinator not ready",
                                     retriable=True)] * 5)
    monkeypatch.setattr(the_loop.transactions, "producer", producer)
    assert not the_loop.transactions.init()
    assert producer.calls == 2 and the_loop.health.blocked_reason is None


def test_a_stop_cuts_a_commit_retry_short(
        loop: tuple[TransactionalLoop, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker stopping because another stage died waits for this stage's commit retries:
    once stopped they get 10 s more, not the 300 s patience meant for a broker restart."""
    the_loop, _clock = loop
    now = {"t": 1000.0}

    def sleep(seconds: float) -> None:
        now["t"] += seconds
        if now["t"] >= 1030.0:
            the_loop.stop()  # the worker stops 30 s into the retries

    monkeypatch.setattr("streams.kafka.transactions.time.monotonic", lambda: now["t"])
    monkeypatch.setattr("streams.kafka.transactions.time.sleep", sleep)
    producer = FlakyCommits(timeouts=1_000_000)  # the broker never takes it
    monkeypatch.setattr(the_loop.transactions, "producer", producer)
    monkeypatch.setattr(the_loop, "consumer", SimpleNamespace(consumer_group_metadata=object))
    the_loop._offsets = {0: 42}
    with pytest.raises(StageFailed, match="commit failed"):
        the_loop._commit()
    assert 1030.0 <= now["t"] <= 1030.0 + 10.0 + 2.0, now


class Recording(Idle):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def assigned(self, partitions: list[int]) -> None:
        self.calls.append(f"assigned {partitions}")

    def revoked(self, partitions: list[int]) -> None:
        self.calls.append(f"revoked {partitions}")

    def committed(self) -> None:
        self.calls.append("committed")


class AbortingCommits(FlakyCommits):
    """A transactional producer whose commit needs the transaction aborted."""

    def commit_transaction(self, timeout: float) -> None:
        self.calls.append("commit")
        raise KafkaException(KafkaError(KafkaError._STATE, "epoch bumped",
                                        txn_requires_abort=True))


def test_a_commit_that_must_abort_rewinds_to_the_committed_offsets_and_reloads_state(
        loop: tuple[TransactionalLoop, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    the_loop, _clock = loop
    processor = Recording()
    the_loop.processor = processor  # type: ignore[assignment]
    seeks: list[tuple[int, int]] = []
    monkeypatch.setattr(the_loop.transactions, "producer", producer := AbortingCommits(0))
    monkeypatch.setattr(the_loop, "consumer", SimpleNamespace(
        consumer_group_metadata=object,
        committed=lambda tps, timeout: [TopicPartition(tp.topic, tp.partition, 40) for tp in tps],
        seek=lambda tp: seeks.append((tp.partition, tp.offset))))
    the_loop._assigned, the_loop._offsets = {0}, {0: 42}
    the_loop._commit()
    assert producer.calls == ["send_offsets", "commit", "abort"]
    assert seeks == [(0, 40)]  # back to the committed offset, not 42
    assert processor.calls == ["revoked [0]", "assigned [0]"]  # never "committed"
    assert not the_loop._in_transaction and the_loop._offsets == {}
