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


class RateLimitingFilter(logging.Filter):
    """The same, for loggers shopstream does not write itself (the Kafka client libraries'):
    a record passes the first time its message is seen, then at most once per
    ``interval_s``; the next one that passes says how many were held back."""

    def __init__(self, prefixes: tuple[str, ...] = (), interval_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.prefixes, self.interval_s, self.clock = prefixes, interval_s, clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or (
                self.prefixes and not record.name.startswith(self.prefixes)):
            return True
        cause = record.getMessage()
        now = self.clock()
        with self._lock:
            last, held = self._last.get(cause, (-self.interval_s, 0))
            if now - last < self.interval_s:
                self._last[cause] = (last, held + 1)
                return False
            self._last[cause] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} (and {held} more like it in the last " \
                         f"{self.interval_s:.0f} s)"
            record.args = ()
        return True


def limit_library_logs(prefixes: tuple[str, ...] = ("aiokafka", "kafka", "faust", "mode")) -> None:
    """Rate-limit the warnings and errors of the Kafka client libraries (a broker outage
    makes them repeat the same line many times a second), on every handler of the root
    logger: call it once logging is set up."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RateLimitingFilter) for f in handler.filters):
            handler.addFilter(RateLimitingFilter(prefixes))
