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
    clock.idle(W + 63_000)
    clock.observe(T + 1_000)  # an event ends the stretch; an older one does not take it back
    assert clock.now(W + 70_000) == T + 8_000
    clock.observe(T + 9_000)  # event time again
    assert clock.now(W + 80_000) == T + 9_000
    assert clock.is_late(T + 8_999, W + 80_000, 0) and not clock.is_late(T + 9_000, W, 0)


@given(st.lists(st.tuples(st.sampled_from(["idle", "busy", "event"]),
                          st.integers(min_value=0, max_value=10_000),
                          st.integers(min_value=-20_000, max_value=20_000)), max_size=40))
def test_the_clock_the_ticks_read_never_goes_back(
        steps: list[tuple[str, int, int]]) -> None:
    """At each of the live stage's ticks the partition is seen idle or busy, then its
    deadlines fire at ``now``; between ticks, events (late ones too) come: ``now`` never goes
    back, and without events it moves no faster than the wall."""
    clock = EventClock()
    clock.observe(T)
    wall, seen = W, T
    for step, wait, offset in steps:
        wall += wait
        if step == "idle":
            clock.idle(wall)
        elif step == "busy":
            clock.busy()
        else:
            clock.observe(T + (wall - W) + offset)
        now = clock.now(wall)
        assert now >= seen
        if step != "event":
            assert now - seen <= wait  # the wall moves it, at most as fast as itself
        seen = now
