"""Event time for one partition: the latest event time seen, moved on by the wall clock
only while the partition is idle.

``now()`` follows event time while events flow, so a replay of last year gives last year's
answers whatever the speed of the replay. A partition is idle when it has nothing more to
read (the stage has caught up with its input, :meth:`EventClock.idle`); from then on the
clock moves with the wall clock, so a cart abandoned at 3 a.m. still triggers. The next
event ends the idle stretch: the clock goes on from the later of the event's time and where
the stretch had taken it. When input is waiting again without an event for this partition
yet (the stage upstream has fallen behind), the clock holds where the stretch took it: it
stops. Read at the stage's ticks, it never goes back. A partition that is behind (a
replay, a restart catching up, a broker outage while behind) never moves by the wall clock,
so the triggers of old data depend on the data alone. An event older than ``now()`` minus
the allowed lateness is late.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

MAX_LEAD_MS = 60_000  # how far past its receipt an event's own time may move the clock


def clock_time(ts_ms: int, received_ms: int | None) -> int:
    """An event's time in the live state: its own, but at most MAX_LEAD_MS past the time
    shopstream received it (``receivedAt``, in the event: a replay of ``shop.events`` reads
    the same). A device whose clock runs a day ahead (the contract lets its events through)
    must not abandon every open cart on its partition and make every other shopper's events
    there late for a day; its own events count as a minute after they arrived, for its
    cart's deadline as for the partition's clock."""
    if received_ms is None:
        return ts_ms
    return min(ts_ms, received_ms + MAX_LEAD_MS)


@dataclass
class EventClock:
    event_ms: int = 0               # the latest event time seen
    idle_since_ms: int | None = None  # wall time this idle stretch began
    idle_seen_ms: int = 0           # wall time the partition was last seen idle
    held_ms: int = 0                # idle time of earlier stretches since the latest event

    def observe(self, ts_ms: int) -> None:
        """An event: event time again, from the later of its time and where idle time had
        taken the clock by the last tick (a late event does not take it back)."""
        self.busy()  # the stretch so far, as the last tick saw it, into held_ms
        self.event_ms = max(ts_ms, self.event_ms + self.held_ms)
        self.held_ms = 0

    def idle(self, wall_ms: int) -> None:
        """The partition has nothing more to read: from now on, wall time passes."""
        if self.idle_since_ms is None:
            self.idle_since_ms = wall_ms
        self.idle_seen_ms = max(self.idle_seen_ms, wall_ms)

    def busy(self) -> None:
        """The partition has input waiting: event time alone moves the clock, which keeps
        the idle time that passed up to when the partition was last seen idle (the time
        its deadlines were last fired at: it stops there, it does not go back)."""
        if self.idle_since_ms is not None:
            self.held_ms += max(0, self.idle_seen_ms - self.idle_since_ms)
            self.idle_since_ms = None

    def now(self, wall_ms: int) -> int:
        if self.event_ms == 0:
            return 0
        if self.idle_since_ms is None:
            return self.event_ms + self.held_ms
        return self.event_ms + self.held_ms + max(0, wall_ms - self.idle_since_ms)

    def is_late(self, ts_ms: int, wall_ms: int, lateness_ms: int) -> bool:
        return self.event_ms > 0 and ts_ms < self.now(wall_ms) - lateness_ms


def wall_ms() -> int:
    """The wall clock in ms: the edge the stages inject into the pure state as ``now``."""
    return int(time.time() * 1000)
