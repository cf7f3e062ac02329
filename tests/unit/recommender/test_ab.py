"""A/B assignment by a stable hash, and the per-variant outcome report by hand."""

from __future__ import annotations

import pytest

from recommender.ab import CANDIDATE, CONTROL, bucket, outcome_report, variant_of, wilson


def test_assignment_is_stable_and_follows_the_share():
    shoppers = [f"u{i}" for i in range(4000)]
    first = [variant_of("shop", 3, s, 0.25) for s in shoppers]
    assert first == [variant_of("shop", 3, s, 0.25) for s in shoppers]
    share = first.count(CANDIDATE) / len(shoppers)
    assert 0.22 < share < 0.28
    # another test (version) reshuffles who is in which variant
    other = [variant_of("shop", 4, s, 0.25) for s in shoppers]
    assert other != first
    assert 0 <= bucket("shop", 3, "u1") < 1


def test_outcome_report_by_hand():
    assigned = {"a": CANDIDATE, "b": CANDIDATE, "c": CONTROL, "d": CONTROL, "e": CONTROL}
    shown = {"a": ["p1", "p2"], "b": ["p3"], "c": ["p1"], "d": ["p2"], "e": ["p9"]}
    clicked = {"a": {"p2"}, "b": {"p3"}, "c": {"p5"}, "e": {"p9"}}
    purchased = {"a": {"p2"}, "d": {"p7"}}
    report = outcome_report(assigned, shown, clicked, purchased)
    candidate, control = report["variants"][CANDIDATE], report["variants"][CONTROL]
    assert candidate["shoppers"] == 2 and control["shoppers"] == 3
    assert candidate["clicked"]["count"] == 2 and candidate["clicked"]["rate"] == 1.0
    assert control["clicked"]["count"] == 1 and control["clicked"]["rate"] == pytest.approx(1 / 3)
    assert candidate["purchased"]["count"] == 1 and control["purchased"]["count"] == 0
    low, high = control["clicked"]["ci95"]
    assert low < 1 / 3 < high
    assert report["candidate_vs_control"]["clicked"]["lift"] == pytest.approx(2.0)
    assert report["candidate_vs_control"]["purchased"]["lift"] is None  # control rate is 0


def test_wilson_interval():
    low, high = wilson(5, 100)
    assert low == pytest.approx(0.0215, abs=1e-4) and high == pytest.approx(0.1118, abs=1e-4)
    assert wilson(0, 0) == (0.0, 0.0)
