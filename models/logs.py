"""Logging that stays readable on bad days: one line per cause per interval (used at every
edge that talks to Kafka or ClickHouse, in every layer).

A broker outage makes every client report the same failure many times a second; a log
of tens of thousands of identical lines hides the one that matters. :class:`RateLimitedLog`
writes the first occurrence of a message, then at most one line per distinct message per
``interval_s``, saying how many were suppressed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.interval_s, self.clock = logger, interval_s, clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}  # cause -> (last written, suppressed)

    def warning(self, message: str, *args: Any) -> None:
        self._log(logging.WARNING, message, *args)

    def error(self, message: str, *args: Any) -> None:
        self._log(logging.ERROR, message, *args)

    def _log(self, level: int, message: str, *args: Any) -> None:
        cause = message % args if args else message
        now = self.clock()
        with self._lock:
            last, suppressed = self._last.get(cause, (-self.interval_s, 0))
            if now - last < self.interval_s:
                self._last[cause] = (last, suppressed + 1)
                return
            self._last[cause] = (now, 0)
        if suppressed:
            message += f" (and {suppressed} more like it in the last {self.interval_s:.0f} s)"
        self.logger.log(level, message, *args)
