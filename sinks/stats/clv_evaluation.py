"""Judging the lifetime model on a time split, against a recency rule.

The orders before the cut are the calibration; the ``horizon`` after it is the holdout. A
customer of the calibration has *churned* when they order nothing in the holdout. The model
fitted on the calibration alone ranks customers by churn risk and forecasts their holdout
revenue; the baselines are the rules a shop uses without a model:

- churn: "recency > N days" (days since the last order at the cut), as a yes/no call;
  also recency itself as a score (longer since the last order, more likely gone);
- revenue: each customer spends in the holdout what they spent in the same span just
  before the cut.

Figures: churn AUC (the probability that a churned customer is ranked above a retained one,
ties counting half), and the error of the holdout revenue, in total (relative) and per
customer (mean absolute error).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import mannwhitneyu

from sinks.stats.clv import fit_clv, forecast
from sinks.stats.errors import NotEnoughData
from sinks.stats.purchase_history import DAY_MS, summarise

Order = tuple[str, int, Decimal | float | None]  # value None: unknown (no exchange rate)


def roc_auc(labels: ArrayLike, scores: ArrayLike) -> float | None:
    """Area under the ROC curve of ``scores`` for ``labels`` (true = positive); None when one
    class is empty. The Mann-Whitney U of the positives' scores over the negatives'."""
    labels_ = np.asarray(labels, dtype=bool)
    scores_ = np.asarray(scores, dtype=np.float64)
    positives, negatives = scores_[labels_], scores_[~labels_]
    if positives.size == 0 or negatives.size == 0:
        return None
    u = mannwhitneyu(positives, negatives, alternative="two-sided").statistic
    return float(u) / (positives.size * negatives.size)


@dataclass(frozen=True)
class Evaluation:
    cut_ms: int
    horizon_days: float
    rule_days: float
    customers: int
    churned: int
    auc_model: float | None
    auc_recency_rule: float | None
    auc_recency_days: float | None
    orders_actual: int
    orders_model: float
    revenue_actual: float
    revenue_model: float
    revenue_baseline: float
    revenue_error_model: float | None  # (forecast - actual) / actual, over all customers
    revenue_error_baseline: float | None
    revenue_mae_model: float
    revenue_mae_baseline: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _relative(forecast_total: float, actual: float) -> float | None:
    return (forecast_total - actual) / actual if actual else None


def evaluate(orders: Sequence[Order], cut_ms: int, horizon_days: float,
             rule_days: float) -> Evaluation:
    """Fit on the orders before ``cut_ms``, judge on the ``horizon_days`` after it."""
    horizon_ms = int(horizon_days * DAY_MS)
    calibration = summarise(orders, cut_ms)
    if not calibration.customers:
        raise NotEnoughData("no orders before the evaluation's cut")
    index = {customer: i for i, customer in enumerate(calibration.customers)}
    n = len(index)
    actual_orders = np.zeros(n)
    actual_revenue = np.zeros(n)
    recent_revenue = np.zeros(n)
    holdout_orders = 0
    for customer, at_ms, value in orders:
        i = index.get(customer)
        if i is None:
            continue
        if cut_ms <= at_ms < cut_ms + horizon_ms:
            actual_orders[i] += 1
            actual_revenue[i] += 0.0 if value is None else float(value)
            holdout_orders += 1
        elif cut_ms - horizon_ms <= at_ms < cut_ms:
            recent_revenue[i] += 0.0 if value is None else float(value)
    if holdout_orders == 0:
        raise NotEnoughData("no order of a calibration customer in the holdout: nothing to "
                            "judge the model against")
    model = fit_clv(calibration)
    predicted = forecast(model, calibration, horizon_days)
    churned = actual_orders == 0
    days_since_last = calibration.age - calibration.recency
    # orders counted per day in the model: compare with the holdout's distinct order days
    days_in_holdout: dict[str, set[int]] = defaultdict(set)
    for customer, at_ms, _ in orders:
        if customer in index and cut_ms <= at_ms < cut_ms + horizon_ms:
            days_in_holdout[customer].add(at_ms // DAY_MS)
    return Evaluation(
        cut_ms=cut_ms, horizon_days=horizon_days, rule_days=rule_days, customers=n,
        churned=int(churned.sum()),
        auc_model=roc_auc(churned, predicted.churn_risk),
        auc_recency_rule=roc_auc(churned, days_since_last > rule_days),
        auc_recency_days=roc_auc(churned, days_since_last),
        orders_actual=sum(len(days) for days in days_in_holdout.values()),
        orders_model=float(predicted.expected_orders.sum()),
        revenue_actual=float(actual_revenue.sum()),
        revenue_model=float(predicted.expected_revenue.sum()),
        revenue_baseline=float(recent_revenue.sum()),
        revenue_error_model=_relative(float(predicted.expected_revenue.sum()),
                                      float(actual_revenue.sum())),
        revenue_error_baseline=_relative(float(recent_revenue.sum()), float(actual_revenue.sum())),
        revenue_mae_model=float(np.abs(predicted.expected_revenue - actual_revenue).mean()),
        revenue_mae_baseline=float(np.abs(recent_revenue - actual_revenue).mean()),
    )
