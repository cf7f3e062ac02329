"""The online check (pure): which shoppers get the candidate in an A/B test, and how each
variant's recommendations did.

Assignment is a stable hash: SHA-256 of ``tenant|version|shopper`` read as a number in
[0, 1); below the test's share the shopper gets the candidate version, otherwise the
control (the active model, or popularity when none is active). The same shopper always
lands in the same variant of a test, on any worker, with nothing stored.

Outcome per variant, over the shoppers the candidate model knows (for the others both
variants serve the same trending lists): the share who clicked (``Product Clicked`` or
``Product Viewed``) a product of their variant's list, and the share who bought one, within
the report window; each with a 95% Wilson interval (scipy), and the candidate against the
control as a relative lift with its interval and p-value (``sinks.stats.ab_tests``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from scipy.stats import binomtest

from sinks.stats.ab_tests import VariantCounts, compare_conversion

CANDIDATE, CONTROL = "candidate", "control"
OUTCOMES = ("clicked", "purchased")


def bucket(tenant: str, version: int, shopper: str) -> float:
    """A stable number in [0, 1) for the shopper in this test."""
    digest = hashlib.sha256(f"{tenant}|{version}|{shopper}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def variant_of(tenant: str, version: int, shopper: str, share: float) -> str:
    return CANDIDATE if bucket(tenant, version, shopper) < share else CONTROL


def wilson(successes: int, trials: int) -> tuple[float, float]:
    if trials == 0:
        return 0.0, 0.0
    interval = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def outcome_report(assigned: Mapping[str, str], shown: Mapping[str, Sequence[str]],
                   clicked: Mapping[str, set[str]],
                   purchased: Mapping[str, set[str]]) -> dict[str, Any]:
    """Per variant: shoppers, and per outcome the count, rate and its interval; then the
    candidate's lift over the control per outcome. ``assigned``: shopper -> variant;
    ``shown``: shopper -> the products their variant recommends; ``clicked`` /
    ``purchased``: shopper -> products they clicked / bought in the window."""
    counts: dict[str, dict[str, int]] = {v: {"shoppers": 0, **dict.fromkeys(OUTCOMES, 0)}
                                         for v in (CANDIDATE, CONTROL)}
    for shopper, variant in assigned.items():
        listed = set(shown.get(shopper, ()))
        row = counts[variant]
        row["shoppers"] += 1
        row["clicked"] += bool(listed & clicked.get(shopper, set()))
        row["purchased"] += bool(listed & purchased.get(shopper, set()))
    variants: dict[str, Any] = {}
    for variant, row in counts.items():
        n = row["shoppers"]
        variants[variant] = {"shoppers": n}
        for outcome in OUTCOMES:
            low, high = wilson(row[outcome], n)
            variants[variant][outcome] = {"count": row[outcome],
                                          "rate": row[outcome] / n if n else 0.0,
                                          "ci95": [low, high]}
    lift: dict[str, Any] = {}
    for outcome in OUTCOMES:
        a, b = counts[CANDIDATE], counts[CONTROL]
        if a["shoppers"] == 0 or b["shoppers"] == 0:
            lift[outcome] = None
            continue
        comparison = compare_conversion(VariantCounts(CANDIDATE, a["shoppers"], a[outcome], 0, 0),
                                        VariantCounts(CONTROL, b["shoppers"], b[outcome], 0, 0))
        lift[outcome] = {"lift": comparison.lift, "ci95": [comparison.ci_low, comparison.ci_high],
                         "p_value": comparison.p_value}
    return {"variants": variants, "candidate_vs_control": lift}
