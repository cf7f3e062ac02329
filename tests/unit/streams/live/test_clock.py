"""The event clock of one partition: event time, moved on by the wall clock only while the
partition is idle, and never backwards when input is waiting again."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.live.clock import EventClock

T = 1_767_225_600_000  # an event time (2026-01-01)
W = 2_000_000_000_000  # a wall time


def test_idle_time_passes_and_is_kept_while_input_waits() -> None:
    clock = EventClock()
    clock.observe(T)
    assert clock.now(W + 5_000) == T  # busy until seen caught up
    clock.idle(W)
    clock.idle(W + 5_000)  # (the stage's ticks: still idle)
    assert clock.now(W + 5_000) == T + 5_000
    clock.busy()  # the stage upstream fell behind: the clock stops where the last tick saw it
    assert clock.now(W + 60_000) == T + 5_000
    clock.idle(W + 60_000)  # caught up again: it goes on from there
    assert clock.now(W + 63_000) == T + 8_000
    clock.observe(T + 1_000)  # an event ends the stretch: event time again
    assert clock.now(W + 70_000) == T + 1_000
    assert clock.is_late(T - 1, W + 70_000, 0) and not clock.is_late(T + 1_000, W, 0)


@given(st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=10_000)),
                max_size=40))
def test_without_events_the_clock_the_ticks_read_never_goes_back(
        ticks: list[tuple[bool, int]]) -> None:
    """At each of the live stage's ticks the partition is seen idle or busy, then its
    deadlines fire at ``now``: between two ticks ``now`` never goes back, and it moves no
    faster than the wall."""
    clock = EventClock()
    clock.observe(T)
    wall, seen = W, T
    for idle, wait in ticks:
        wall += wait
        if idle:
            clock.idle(wall)
        else:
            clock.busy()
        now = clock.now(wall)
        assert seen <= now <= T + (wall - W)
        seen = now
