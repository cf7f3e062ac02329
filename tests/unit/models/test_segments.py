"""Customer segments and RFM scores (pure)."""

from __future__ import annotations

from decimal import Decimal as D
from itertools import product

import pytest

from models.segments import SegmentRules, customer_segment, quintile_scores, rfm_segment


def test_quintiles_rank_and_share_ties():
    assert quintile_scores([1, 2, 3, 4, 5]) == [1, 2, 3, 4, 5]
    assert quintile_scores([7, 7, 7]) == [5, 5, 5]
    assert quintile_scores([10, 1, 1, 5], higher_is_better=False) == [2, 5, 5, 3]
    assert quintile_scores(list(range(10))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintile_scores([]) == []


def test_every_rfm_cell_has_exactly_one_segment():
    seen = {rfm_segment(r, f, m) for r, f, m in product(range(1, 6), repeat=3)}
    assert seen == {"Champions", "Loyal", "Potential Loyalist", "New", "Promising",
                    "Need Attention", "At Risk", "Can't Lose Them", "Hibernating", "Lost"}
    assert rfm_segment(5, 5, 5) == "Champions"
    assert rfm_segment(1, 5, 5) == "Can't Lose Them"
    assert rfm_segment(5, 1, 1) == "New"
    assert rfm_segment(1, 1, 1) == "Lost"


@pytest.mark.parametrize(("orders", "revenue", "gap", "segment"), [
    (0, D(0), None, "new"), (1, D(50), None, "new"), (2, D(50), 10.0, "returning"),
    (3, D(50), 40.0, "loyal"), (5, D(50), 40.0, "loyal"), (5, D(50), 30.0, "frequent buyer"),
    (1, D(1000), None, "high value"), (9, D(5000), 1.0, "high value"),
])
def test_customer_segments(orders, revenue, gap, segment):
    assert customer_segment(orders, revenue, gap) == segment


def test_customer_segment_thresholds_are_configurable():
    rules = SegmentRules(high_value_revenue=D(100), frequent_buyer_orders=2,
                         frequent_buyer_gap_days=7)
    assert customer_segment(1, D(150), None, rules) == "high value"
    assert customer_segment(2, D(50), 5.0, rules) == "frequent buyer"
