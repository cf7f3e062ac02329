"""Rate-limited logging: one line per distinct message per interval, with a count."""

from __future__ import annotations

import logging

from models.logs import RateLimitedLog


def test_one_line_per_message_per_interval_then_the_count(caplog) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("shopstream.test"), interval_s=30, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="shopstream.test"):
        for _ in range(1000):
            log.warning("consume: %s", "broker down")
        log.warning("consume: %s", "another cause")
        now[0] = 31.0
        log.warning("consume: %s", "broker down")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["consume: broker down", "consume: another cause",
                     "consume: broker down (and 999 more like it in the last 30 s)"]


def test_library_lines_are_held_back_per_message_and_interval() -> None:
    from models.logs import RateLimitingFilter

    now = [0.0]
    limit = RateLimitingFilter(("aiokafka",), interval_s=30, clock=lambda: now[0])

    def record(name: str, message: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, message, (), None)

    assert limit.filter(record("aiokafka.conn", "Unable connect to node 1"))
    assert not any(limit.filter(record("aiokafka.conn", "Unable connect to node 1"))
                   for _ in range(500))
    assert limit.filter(record("streams.worker", "ours, never held"))
    assert limit.filter(record("aiokafka.conn", "below warning", logging.INFO))
    now[0] = 31.0
    passed = record("aiokafka.conn", "Unable connect to node 1")
    assert limit.filter(passed) and "(and 500 more like it" in passed.getMessage()
