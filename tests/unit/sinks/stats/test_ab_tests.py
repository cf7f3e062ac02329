"""A/B-test figures equal scipy's own tests on the same counts and values; the sample size
by hand; the sample-ratio check flags a skewed split; a winner only with the evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2_contingency, chisquare, ttest_ind
from scipy.stats.contingency import relative_risk

from sinks.stats.ab_tests import (
    ExperimentRules,
    VariantCounts,
    choose_control,
    compare_conversion,
    compare_revenue,
    judge,
    required_per_variant,
    srm_p_value,
    two_proportion_z_test,
    welch_t_test,
)


def counts(name: str, revenue: np.ndarray, converted: np.ndarray) -> VariantCounts:
    return VariantCounts(name, len(revenue), int(converted.sum()), float(revenue.sum()),
                         float(revenue.var(ddof=1)))


def test_conversion_test_equals_scipys_chi_square_on_the_same_counts():
    z, p = two_proportion_z_test(230, 2000, 190, 2000)
    chi2, p_scipy, _, _ = chi2_contingency([[230, 1770], [190, 1810]], correction=False)
    assert z * z == pytest.approx(chi2)
    assert p == pytest.approx(p_scipy)
    assert z > 0


def test_lift_interval_equals_scipys_relative_risk_interval():
    variant, control = VariantCounts("b", 2000, 230, 0, 0), VariantCounts("a", 2000, 190, 0, 0)
    result = compare_conversion(variant, control)
    reference = relative_risk(230, 2000, 190, 2000)
    interval = reference.confidence_interval(0.95)
    assert result.lift == pytest.approx(reference.relative_risk - 1)
    assert result.ci_low == pytest.approx(interval.low - 1)
    assert result.ci_high == pytest.approx(interval.high - 1)


def test_revenue_test_equals_scipys_welch_t_test_on_the_shoppers_values():
    rng = np.random.default_rng(3)
    converted_a, converted_b = rng.random(3000) < 0.1, rng.random(2500) < 0.12
    revenue_a = np.where(converted_a, rng.lognormal(3.5, 0.8, 3000), 0.0)
    revenue_b = np.where(converted_b, rng.lognormal(3.6, 1.0, 2500), 0.0)
    a, b = counts("a", revenue_a, converted_a), counts("b", revenue_b, converted_b)
    reference = ttest_ind(revenue_b, revenue_a, equal_var=False)
    t, p = welch_t_test(b.revenue / b.shoppers, b.revenue_var, b.shoppers,
                        a.revenue / a.shoppers, a.revenue_var, a.shoppers)
    assert t == pytest.approx(reference.statistic)
    assert p == pytest.approx(reference.pvalue)
    result = compare_revenue(b, a)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.lift == pytest.approx(revenue_b.mean() / revenue_a.mean() - 1)
    # the interval of the log ratio of means, by hand
    se = math.sqrt(revenue_b.var(ddof=1) / 2500 / revenue_b.mean() ** 2
                   + revenue_a.var(ddof=1) / 3000 / revenue_a.mean() ** 2)
    ratio = revenue_b.mean() / revenue_a.mean()
    assert result.ci_low == pytest.approx(ratio * math.exp(-1.959964 * se) - 1, rel=1e-5)
    assert result.ci_high == pytest.approx(ratio * math.exp(1.959964 * se) - 1, rel=1e-5)


def test_sample_ratio_mismatch_equals_scipys_chi_square_and_flags_a_skewed_split():
    assert srm_p_value([5000, 5100]) == pytest.approx(chisquare([5000, 5100]).pvalue)
    assert srm_p_value([5000, 5100]) > 0.001
    assert srm_p_value([10000, 10500]) == pytest.approx(chisquare([10000, 10500]).pvalue)
    assert srm_p_value([10000, 10500]) < 0.001


def test_required_sample_size_by_hand():
    # 10% -> 11%: (1.959964 + 0.841621)^2 x (0.09 + 0.0979) / 0.01^2 = 14,748.04, rounded up
    assert required_per_variant(0.10, 0.10, 0.05, 0.8) == 14749
    assert required_per_variant(0.0, 0.10, 0.05, 0.8) is None


def test_control_is_the_variant_named_control_else_the_first_by_id():
    assert choose_control(["b", "Control", "a"]) == 1
    assert choose_control(["v2", "v1"]) == 1


def variant(name: str, shoppers: int, conversions: int) -> VariantCounts:
    return VariantCounts(name, shoppers, conversions, conversions * 50.0, 400.0)


def test_a_winner_only_when_significant_and_the_sample_is_large_enough():
    rules = ExperimentRules(mde=0.2)  # 10% -> 12% needs 3,841 shoppers per variant
    big = judge([variant("control", 5000, 500), variant("b", 5000, 600)], rules)
    assert [r["decision"] for r in big] == ["control", "better than control"]
    assert [r["winner"] for r in big] == [False, True]
    assert big[0]["required_shoppers"] == required_per_variant(0.1, 0.2, 0.05, 0.8)
    # the same rates on fewer shoppers: significant or not, no verdict yet
    small = judge([variant("control", 3000, 300), variant("b", 3000, 360)], rules)
    assert small[1]["conversion_p_value"] < 0.05
    assert small[1]["decision"].startswith("not enough shoppers yet (3000 of ")
    assert not any(r["winner"] for r in small)
    flat = judge([variant("control", 5000, 500), variant("b", 5000, 510)], rules)
    assert flat[1]["decision"] == "no significant difference" and not any(r["winner"] for r in flat)


def test_a_sample_ratio_mismatch_names_no_winner():
    skewed = judge([variant("control", 10000, 1000), variant("b", 10500, 1300)])
    assert skewed[1]["srm_p_value"] < 0.001
    assert skewed[1]["decision"] == "sample ratio mismatch: check the assignment"
    assert not any(r["winner"] for r in skewed)


def test_several_variants_are_held_to_a_bonferroni_level():
    # p of b against the control is about 0.03: significant alone, not among three variants
    two = judge([variant("control", 20000, 2000), variant("b", 20000, 2130)], ExperimentRules(mde=0.2))
    assert 0.025 < two[1]["conversion_p_value"] < 0.05 and two[1]["winner"]
    three = judge([variant("control", 20000, 2000), variant("b", 20000, 2130),
                   variant("c", 20000, 2010)], ExperimentRules(mde=0.2))
    assert three[1]["decision"] == "no significant difference"
    assert not any(r["winner"] for r in three)


def test_the_control_wins_when_every_variant_is_significantly_worse():
    out = judge([variant("control", 5000, 600), variant("b", 5000, 480)], ExperimentRules(mde=0.2))
    assert out[1]["decision"] == "worse than control"
    assert [r["winner"] for r in out] == [True, False]


def test_without_a_sample_size_the_decision_says_why():
    """A control converting every shopper leaves no 10% change to detect: that is not "no
    conversions yet" (what it said); a control without conversions is."""
    saturated = judge([variant("control", 20, 20), variant("b", 20, 15)])
    assert saturated[1]["decision"].startswith("no sample size: the control converts 100.0%")
    none = judge([variant("control", 20, 0), variant("b", 20, 3)])
    assert none[1]["decision"] == "control has no conversions yet"
    assert not any(r["winner"] for r in saturated + none)
