"""``models.bounded.call_within``: a call that returns or raises is passed through; one that
hangs past its own timeout and the grace raises ``CallStuck`` in time, and the caller goes
on."""

from __future__ import annotations

import threading
import time

import pytest

from models import bounded
from models.bounded import CallStuck, call_within


def test_a_call_that_returns_in_time_is_run_once_with_its_arguments() -> None:
    seen: list[tuple[str, float]] = []
    call_within(lambda name, timeout: seen.append((name, timeout)), "x", 5.0)
    assert seen == [("x", 5.0)]


def test_what_the_call_raises_reaches_the_caller() -> None:
    def fails(_timeout: float) -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        call_within(fails, 5.0)


def test_a_call_that_hangs_raises_call_stuck_after_its_timeout_and_the_grace() -> None:
    release = threading.Event()

    def hangs(_timeout: float) -> None:
        release.wait(30)

    started = time.monotonic()
    try:
        with pytest.raises(CallStuck, match="hangs did not return within 0 s"):
            call_within(hangs, 0.2, grace_s=0.1)
        assert 0.25 <= time.monotonic() - started < 5
    finally:
        release.set()


def _thread_of_call() -> int:
    seen: list[int] = []
    call_within(lambda _timeout: seen.append(threading.get_ident()), 5.0)
    return seen[0]


def test_calls_of_one_thread_share_one_helper_thread_not_the_callers() -> None:
    first, second = _thread_of_call(), _thread_of_call()
    assert first == second != threading.get_ident()


def test_each_calling_thread_has_a_helper_of_its_own() -> None:
    other: list[int] = []
    thread = threading.Thread(target=lambda: other.append(_thread_of_call()))
    thread.start()
    thread.join(10)
    assert other and other[0] != _thread_of_call()


def test_after_a_stuck_call_the_next_one_runs_on_a_new_helper() -> None:
    release = threading.Event()
    stuck_in: list[int] = []

    def hangs(_timeout: float) -> None:
        stuck_in.append(threading.get_ident())
        release.wait(30)

    try:
        with pytest.raises(CallStuck):
            call_within(hangs, 0.1, grace_s=0.1)
        assert _thread_of_call() != stuck_in[0]  # not queued behind the stuck call
    finally:
        release.set()


def test_an_idle_helper_ends_and_the_next_call_gets_a_new_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded, "_IDLE_S", 0.1)
    _thread_of_call()  # a helper that waits 0.1 s for its next call, then ends
    helper = bounded._helpers.helper
    helper.thread.join(10)
    assert not helper.thread.is_alive() and not helper.alive, "the idle helper did not end"
    assert _thread_of_call() != threading.get_ident()
    assert bounded._helpers.helper is not helper
