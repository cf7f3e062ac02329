"""When to retry a delivery, and how long to wait: pure decisions, no clock, no network.

An answer is one of: ``ok`` (2xx: acknowledged), ``retry`` (5xx, 408 Request Timeout, 429
Too Many Requests, a timeout or a connection error: the endpoint may take it later), or
``rejected`` (any other status: the endpoint refuses this request, and will again, so it
is dead-lettered at once). Waits grow exponentially with full jitter (AWS's
"exponential backoff and jitter"): attempt ``n`` waits a uniform share of
``min(max_s, initial_s * 2 ** (n - 1))``, so many workers retrying one endpoint spread out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["ok", "retry", "rejected"]
RETRY_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    initial_s: float = 1.0
    max_s: float = 300.0
    retry_for_s: float = 3600.0  # after the first attempt; then the trigger is dead-lettered


def outcome(status: int | None) -> Outcome:
    """``status`` None: no HTTP answer (timeout, connection refused or reset)."""
    if status is None or status >= 500 or status in RETRY_STATUSES:
        return "retry"
    if 200 <= status < 300:
        return "ok"
    return "rejected"


def backoff_s(policy: RetryPolicy, attempt: int, draw: float) -> float:
    """The wait after failed attempt ``attempt`` (1-based); ``draw`` is uniform in [0, 1)."""
    ceiling = min(policy.max_s, policy.initial_s * 2 ** min(attempt - 1, 62))
    return draw * ceiling


def give_up(policy: RetryPolicy, elapsed_s: float, wait_s: float) -> bool:
    """Whether the next attempt, ``wait_s`` from now, would fall past the retry window."""
    return elapsed_s + wait_s > policy.retry_for_s
