"""Per-key token buckets."""

from __future__ import annotations

from streams.collector.ratelimit import RateLimits, retry_after


def test_a_key_gets_its_rate_and_waits_for_refill():
    limits = RateLimits()
    assert limits.take("k", 10, 10, now=0.0) == 0.0
    wait = limits.take("k", 10, 5, now=0.1)  # one token back after 0.1 s
    assert abs(wait - 0.4) < 1e-9
    assert limits.take("k", 10, 5, now=0.5) == 0.0
    assert limits.take("other", 10, 10, now=0.5) == 0.0  # keys do not share a bucket


def test_a_request_larger_than_a_second_passes_when_full_and_leaves_a_debt():
    limits = RateLimits()
    assert limits.take("k", 5, 100, now=0.0) == 0.0
    assert limits.take("k", 5, 1, now=1.0) > 0


def test_retry_after_is_whole_seconds_at_least_one():
    assert (retry_after(0.01), retry_after(1.0), retry_after(2.2)) == ("1", "1", "3")
