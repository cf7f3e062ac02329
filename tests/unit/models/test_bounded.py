"""``models.bounded.call_within``: a call that returns or raises is passed through; one that
hangs past its own timeout and the grace raises ``CallStuck`` in time, and the caller goes
on."""

from __future__ import annotations

import threading
import time

import pytest

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
