"""Per-key rate limits: a token bucket per key, in one collector process (collectors share
nothing; N collectors let a key send up to N times its rate). Pure: the clock is passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Bucket:
    rate: float  # tokens (events) per second; the bucket holds one second's worth
    tokens: float
    at: float


class RateLimits:
    def __init__(self) -> None:
        self._buckets: dict[str, Bucket] = {}

    def take(self, key_id: str, rate: float, events: int, now: float) -> float:
        """Take ``events`` tokens from the key's bucket: 0.0 when allowed, else the seconds
        to wait before this many fit (a request larger than one second's worth is let
        through when the bucket is full, so no request can never pass)."""
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[key_id] = Bucket(rate, rate, now)
        bucket.tokens = min(rate, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        need = min(float(events), rate)
        if bucket.tokens >= need:
            bucket.tokens -= events
            return 0.0
        return (need - bucket.tokens) / rate


def retry_after(seconds: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
