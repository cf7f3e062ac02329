"""A/B-test figures for experiment variants: conversion and revenue per shopper against the
control, with confidence intervals, p-values, a sample-ratio-mismatch check, the sample size
a test needs, and a verdict that names a winner only when the evidence is there.

- conversion: two-proportion z-test (pooled variance), two-sided;
- revenue per shopper: Welch's t-test (unequal variances), two-sided;
- relative lift = variant / control - 1, its confidence interval from the log of the ratio
  (delta method; for proportions that is Katz's interval for a risk ratio);
- sample ratio mismatch: chi-square goodness of fit of the exposed shoppers against an
  equal split, flagged below ``srm_alpha`` (0.001: assignment is broken, not unlucky);
- required shoppers per variant: to detect a relative change of ``mde`` in the control's
  conversion rate at ``alpha`` (two-sided) with ``power``;
- with several variants each is compared to the control at ``alpha / (variants - 1)``
  (Bonferroni), so that adding variants does not make a false winner more likely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

_NORMAL = NormalDist()
# scipy.stats (the t and chi-square tests) is imported where used: it takes about a second to
# import, and every worker and command that can serve a report imports this module


@dataclass(frozen=True)
class ExperimentRules:
    alpha: float = 0.05
    power: float = 0.8
    mde: float = 0.10  # relative change in conversion the test must be able to detect
    srm_alpha: float = 0.001


@dataclass(frozen=True)
class VariantCounts:
    variation_id: str
    shoppers: int
    conversions: int
    revenue: float  # summed over the shoppers
    revenue_var: float  # sample variance of revenue per shopper (zeros included)


@dataclass(frozen=True)
class Comparison:
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def two_proportion_z_test(conv_a: int, n_a: int, conv_b: int, n_b: int) -> tuple[float, float]:
    """z and the two-sided p-value of ``conv_a / n_a`` against ``conv_b / n_b``, pooled."""
    pooled = (conv_a + conv_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 0.0, 1.0
    z = (conv_a / n_a - conv_b / n_b) / se
    return z, math.erfc(abs(z) / math.sqrt(2))  # two-sided normal tail


def welch_t_test(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float,
                 n_b: int) -> tuple[float, float]:
    """t and the two-sided p-value of mean a against mean b, unequal variances."""
    if n_a < 2 or n_b < 2 or var_a + var_b == 0:
        return 0.0, 1.0
    from scipy.stats import ttest_ind_from_stats

    result = ttest_ind_from_stats(mean_a, math.sqrt(var_a), n_a, mean_b, math.sqrt(var_b), n_b,
                                  equal_var=False)
    return float(result.statistic), float(result.pvalue)


def relative_lift(mean_a: float, se_a: float, mean_b: float, se_b: float,
                  confidence: float = 0.95) -> tuple[float | None, float | None, float | None]:
    """a / b - 1 and its interval from ``log(a / b) +- z * sqrt((se_a/a)^2 + (se_b/b)^2)``;
    the interval is None when either mean is 0 (the log ratio is undefined)."""
    if mean_b == 0:
        return None, None, None
    lift = mean_a / mean_b - 1
    if mean_a == 0:
        return lift, None, None
    z = _NORMAL.inv_cdf(0.5 + confidence / 2)
    spread = z * math.sqrt((se_a / mean_a) ** 2 + (se_b / mean_b) ** 2)
    log_ratio = math.log(mean_a / mean_b)
    return lift, math.exp(log_ratio - spread) - 1, math.exp(log_ratio + spread) - 1


def srm_p_value(shoppers: list[int]) -> float:
    """p-value of the exposed shoppers against an equal split (chi-square, k - 1 d.o.f.)."""
    if len(shoppers) < 2 or sum(shoppers) == 0:
        return 1.0
    from scipy.stats import chisquare

    return float(chisquare(shoppers).pvalue)


def required_per_variant(base_rate: float, mde: float, alpha: float, power: float) -> int | None:
    """Shoppers per variant to detect ``base_rate * (1 + mde)`` against ``base_rate``; None
    when the base rate leaves nothing to detect (0 or 1, or the target outside 0..1)."""
    target = base_rate * (1 + mde)
    if not 0 < base_rate < 1 or not 0 < target < 1:
        return None
    z = _NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)
    spread = base_rate * (1 - base_rate) + target * (1 - target)
    return math.ceil(z * z * spread / (target - base_rate) ** 2)


def compare_conversion(variant: VariantCounts, control: VariantCounts,
                       confidence: float = 0.95) -> Comparison:
    rate_v, rate_c = variant.conversions / variant.shoppers, control.conversions / control.shoppers
    lift, low, high = relative_lift(
        rate_v, math.sqrt(rate_v * (1 - rate_v) / variant.shoppers),
        rate_c, math.sqrt(rate_c * (1 - rate_c) / control.shoppers), confidence)
    _, p = two_proportion_z_test(variant.conversions, variant.shoppers, control.conversions,
                                 control.shoppers)
    return Comparison(lift, low, high, p)


def compare_revenue(variant: VariantCounts, control: VariantCounts,
                    confidence: float = 0.95) -> Comparison:
    mean_v, mean_c = variant.revenue / variant.shoppers, control.revenue / control.shoppers
    lift, low, high = relative_lift(
        mean_v, math.sqrt(variant.revenue_var / variant.shoppers),
        mean_c, math.sqrt(control.revenue_var / control.shoppers), confidence)
    _, p = welch_t_test(mean_v, variant.revenue_var, variant.shoppers, mean_c,
                        control.revenue_var, control.shoppers)
    return Comparison(lift, low, high, p)


def choose_control(variation_ids: list[str]) -> int:
    """The variant named ``control`` (any case), else the first by id."""
    for i, name in enumerate(variation_ids):
        if name.lower() == "control":
            return i
    return min(range(len(variation_ids)), key=lambda i: variation_ids[i])


def no_sample_size(base_rate: float, mde: float) -> str:
    """Why no sample size can be worked out for the control's conversion rate."""
    if base_rate <= 0:
        return "control has no conversions yet"
    return (f"no sample size: the control converts {base_rate:.1%} of its shoppers, so a "
            f"{mde:.0%} change is out of reach (SHOPSTREAM_EXPERIMENT_MDE)")


def judge(variants: list[VariantCounts], rules: ExperimentRules = ExperimentRules(),
          control_index: int | None = None) -> list[dict[str, Any]]:
    """One record per variant (in the given order): its figures against the control, and a
    decision. A winner is named only when no sample ratio mismatch is flagged, every
    variant reached the required shoppers, and the conversion difference is significant."""
    active = [v for v in variants if v.shoppers > 0]
    if len(active) != len(variants):
        raise ValueError("every variant needs at least one exposed shopper")
    c = choose_control([v.variation_id for v in variants]) if control_index is None else control_index
    control = variants[c]
    srm_p = srm_p_value([v.shoppers for v in variants])
    srm = srm_p < rules.srm_alpha
    required = required_per_variant(control.conversions / control.shoppers, rules.mde,
                                     rules.alpha, rules.power)
    enough = required is not None and all(v.shoppers >= required for v in variants)
    alpha = rules.alpha / max(1, len(variants) - 1)
    out: list[dict[str, Any]] = []
    for i, variant in enumerate(variants):
        conversion = compare_conversion(variant, control)
        revenue = compare_revenue(variant, control)
        significant = conversion.p_value is not None and conversion.p_value < alpha
        if i == c:
            decision = "control"
        elif srm:
            decision = "sample ratio mismatch: check the assignment"
        elif not enough:
            decision = (no_sample_size(control.conversions / control.shoppers, rules.mde)
                        if required is None
                        else f"not enough shoppers yet ({min(v.shoppers for v in variants)} "
                        f"of {required} per variant)")
        elif significant:
            decision = "better than control" if (conversion.lift or 0) > 0 else "worse than control"
        else:
            decision = "no significant difference"
        out.append({
            "variation_id": variant.variation_id, "is_control": i == c,
            "shoppers": variant.shoppers, "conversions": variant.conversions,
            "conversion_rate": variant.conversions / variant.shoppers,
            "revenue": variant.revenue, "revenue_per_shopper": variant.revenue / variant.shoppers,
            "conversion_lift": None if i == c else conversion.lift,
            "conversion_lift_ci_low": None if i == c else conversion.ci_low,
            "conversion_lift_ci_high": None if i == c else conversion.ci_high,
            "conversion_p_value": None if i == c else conversion.p_value,
            "revenue_lift": None if i == c else revenue.lift,
            "revenue_lift_ci_low": None if i == c else revenue.ci_low,
            "revenue_lift_ci_high": None if i == c else revenue.ci_high,
            "revenue_p_value": None if i == c else revenue.p_value,
            "required_shoppers": required, "srm_p_value": srm_p, "decision": decision,
            "winner": False,
        })
    better = [r for r in out if r["decision"] == "better than control"]
    if better:
        max(better, key=lambda r: r["conversion_rate"])["winner"] = True
    elif len(out) > 1 and all(r["decision"] == "worse than control" for r in out if not r["is_control"]):
        out[c]["winner"] = True
    return out
