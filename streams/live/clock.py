"""Event time for one partition: the watermark, with a wall-clock advance when idle.

``now()`` is the latest event time seen plus the wall-clock time since the last
event arrived. While events flow it follows event time (a replay of last year
gives last year's answers); when the stream goes quiet it keeps moving with the
wall clock, so a deadline still passes at 3 a.m. An event older than ``now()``
minus the allowed lateness is late.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EventClock:
    event_ms: int = 0           # the latest event time seen
    arrived_wall_ms: int = 0    # wall time when the last event arrived

    def observe(self, ts_ms: int, wall_ms: int) -> None:
        if ts_ms > self.event_ms:
            self.event_ms = ts_ms
        self.arrived_wall_ms = wall_ms

    def now(self, wall_ms: int) -> int:
        if self.event_ms == 0:
            return 0
        return self.event_ms + max(0, wall_ms - self.arrived_wall_ms)

    def is_late(self, ts_ms: int, wall_ms: int, lateness_ms: int) -> bool:
        return self.event_ms > 0 and ts_ms < self.now(wall_ms) - lateness_ms
