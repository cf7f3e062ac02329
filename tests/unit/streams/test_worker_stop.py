"""How a worker stops its stages (``streams/worker.py`` ``stop_stages``): all asked at once,
one deadline for all, a short one once a stage has died."""

from __future__ import annotations

import pytest

from streams.kafka.transactional import StageFailed
from streams.worker import STOP_AFTER_FAILURE_S, STOP_LIMIT_S, StageThread, stop_stages


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Stage(StageThread):
    """A stage that takes ``takes`` seconds of the clock to finish once stopped (None:
    never), noting what the worker asked of it."""

    def __init__(self, name: str, calls: list[tuple[str, str, float]], clock: Clock,
                 takes: float | None = 0.0, died: bool = False) -> None:
        super().__init__(name, run=lambda: None, stop=lambda: calls.append(("stop", name, clock.now)))
        self.calls, self.clock, self.takes = calls, clock, takes
        self.error = StageFailed("stuck Kafka client") if died else None

    def wait(self, timeout: float) -> bool:
        self.calls.append(("wait", self.name, timeout))
        finished = self.takes is not None and self.takes <= timeout
        self.clock.now += self.takes if finished and self.takes is not None else max(timeout, 0.0)
        return finished


def stages(clock: Clock, calls: list[tuple[str, str, float]], **kinds: dict) -> list[StageThread]:
    return [Stage(name, calls, clock, **kind) for name, kind in kinds.items()]


def test_every_stage_is_asked_to_stop_before_any_is_waited_for() -> None:
    clock, calls = Clock(), []
    assert stop_stages(stages(clock, calls, validate={}, live={}, sink={}), clock) == 0
    assert [c[0] for c in calls] == ["stop"] * 3 + ["wait"] * 3


def test_a_clean_stop_shares_one_long_deadline() -> None:
    clock, calls = Clock(), []
    stop_stages(stages(clock, calls, validate={"takes": 30.0}, sink={"takes": 50.0}), clock)
    waits = [(name, timeout) for kind, name, timeout in calls if kind == "wait"]
    assert waits == [("validate", STOP_LIMIT_S), ("sink", STOP_LIMIT_S - 30.0)]


def test_after_a_stage_died_the_others_get_a_short_deadline_and_the_exit_is_non_zero(
        caplog: pytest.LogCaptureFixture) -> None:
    clock, calls = Clock(), []
    status = stop_stages(stages(clock, calls, trending={"died": True}, sink={"takes": None},
                                webhooks={}), clock)
    assert status == 1
    waits = dict((name, timeout) for kind, name, timeout in calls if kind == "wait")
    assert waits["trending"] == STOP_AFTER_FAILURE_S
    assert waits["webhooks"] <= 0  # the stuck sink used up the deadline; a finished stage still counts
    assert clock.now == STOP_AFTER_FAILURE_S
    assert "stages sink did not stop within 15 s (after trending died)" in caplog.text


def test_a_stage_that_does_not_stop_in_time_makes_the_exit_non_zero() -> None:
    clock, calls = Clock(), []
    assert stop_stages(stages(clock, calls, validate={}, sink={"takes": STOP_LIMIT_S + 1}),
                       clock) == 1
