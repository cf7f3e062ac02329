"""Customer segments and RFM scores: pure functions over a customer's figures.

Used by the ``rfm`` and ``customers`` reports and by the live customer triggers,
so a customer is in the same segment wherever you look.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

SEGMENTS = ("new", "returning", "loyal", "frequent buyer", "high value")


@dataclass(frozen=True)
class SegmentRules:
    high_value_revenue: Decimal = Decimal("1000")
    frequent_buyer_orders: int = 5
    frequent_buyer_gap_days: float = 30.0


def customer_segment(orders: int, revenue: Decimal, mean_gap_days: float | None,
                     rules: SegmentRules = SegmentRules()) -> str:
    """First match wins: high value (net revenue >= threshold), frequent buyer (>= N orders,
    mean gap <= D days), loyal (>= 3 orders), returning (2 orders), new (0 or 1)."""
    if revenue >= rules.high_value_revenue:
        return "high value"
    if (orders >= rules.frequent_buyer_orders and mean_gap_days is not None
            and mean_gap_days <= rules.frequent_buyer_gap_days):
        return "frequent buyer"
    if orders >= 3:
        return "loyal"
    if orders == 2:
        return "returning"
    return "new"


def quintile_scores(values: Sequence[float | Decimal], higher_is_better: bool = True) -> list[int]:
    """Score each value 1..5: 5 - floor(5 x (customers strictly better) / customers).

    Ties share the higher score: when everyone bought today, everyone has R = 5.
    """
    n = len(values)
    ordered = sorted(values)
    scores = []
    for value in values:
        if higher_is_better:
            better = n - bisect.bisect_right(ordered, value)
        else:
            better = bisect.bisect_left(ordered, value)
        scores.append(max(1, 5 - (5 * better) // n))
    return scores


RFM_RULES: tuple[tuple[str, str], ...] = (
    ("Champions", "R >= 4 and F >= 4 and M >= 4"),
    ("Can't Lose Them", "R <= 2 and F >= 4 and M >= 4"),
    ("Loyal", "R >= 3 and F >= 4"),
    ("At Risk", "R <= 2 and F >= 3"),
    ("New", "R = 5 and F = 1"),
    ("Potential Loyalist", "R >= 4 and F >= 2"),
    ("Promising", "R = 4 and F = 1"),
    ("Need Attention", "R = 3 and F >= 2"),
    ("Hibernating", "R = 2, or R = 3 and F = 1"),
    ("Lost", "everyone else (R = 1 and F <= 2)"),
)
"""The RFM segments, in the order they are tried (documentation of :func:`rfm_segment`)."""


def rfm_segment(r: int, f: int, m: int) -> str:
    if r >= 4 and f >= 4 and m >= 4:
        return "Champions"
    if r <= 2 and f >= 4 and m >= 4:
        return "Can't Lose Them"
    if r >= 3 and f >= 4:
        return "Loyal"
    if r <= 2 and f >= 3:
        return "At Risk"
    if r == 5 and f == 1:
        return "New"
    if r >= 4 and f >= 2:
        return "Potential Loyalist"
    if r == 4 and f == 1:
        return "Promising"
    if r == 3 and f >= 2:
        return "Need Attention"
    if r == 2 or (r == 3 and f == 1):
        return "Hibernating"
    return "Lost"
