"""Which answers are retried, and how the waits grow."""

from __future__ import annotations

import pytest

from streams.webhooks.policy import RetryPolicy, backoff_s, give_up, outcome


@pytest.mark.parametrize(("status", "expected"), [
    (200, "ok"), (204, "ok"), (299, "ok"), (None, "retry"), (500, "retry"), (503, "retry"),
    (408, "retry"), (429, "retry"), (301, "rejected"), (400, "rejected"), (401, "rejected"),
    (404, "rejected"), (410, "rejected")])
def test_outcome_of_an_answer(status, expected):
    assert outcome(status) == expected


def test_backoff_doubles_up_to_the_ceiling_and_jitters_below_it():
    policy = RetryPolicy(initial_s=0.5, max_s=10, retry_for_s=60)
    assert [backoff_s(policy, n, 0.999999) for n in (1, 2, 3, 4, 5, 6, 40)] == pytest.approx(
        [0.5, 1, 2, 4, 8, 10, 10], rel=1e-5)
    assert backoff_s(policy, 3, 0.0) == 0
    assert backoff_s(policy, 3, 0.5) == 1.0


def test_give_up_when_the_next_attempt_falls_past_the_window():
    policy = RetryPolicy(retry_for_s=60)
    assert not give_up(policy, elapsed_s=50, wait_s=10)
    assert give_up(policy, elapsed_s=50, wait_s=10.5)
