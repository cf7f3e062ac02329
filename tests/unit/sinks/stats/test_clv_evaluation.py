"""The evaluation's figures: AUC by hand, and the model against the recency rule on the
whole CDNOW data (real purchases, 1997-1998) with the last 90 days held out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sinks.stats.clv_evaluation import evaluate, roc_auc
from sinks.stats.errors import NotEnoughData
from tests.unit.sinks.stats.cdnow import orders

DAY = 86_400_000


def test_roc_auc_by_hand():
    assert roc_auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert roc_auc([1, 0], [0.5, 0.5]) == 0.5  # a tie counts half
    # positives 0.8, 0.4; negatives 0.6, 0.2: pairs won 1 + 1 + 0 + 1 of 4
    assert roc_auc([1, 0, 1, 0], [0.8, 0.6, 0.4, 0.2]) == 0.75
    assert roc_auc([1, 1], [0.3, 0.4]) is None


@pytest.fixture(scope="module")
def cdnow_evaluation():
    history = orders()
    end = (max(at for _, at, _ in history) // DAY + 1) * DAY  # 1998-07-01
    return evaluate(history, end - 90 * DAY, horizon_days=90, rule_days=90)


def test_the_model_beats_the_recency_rule_on_cdnow(cdnow_evaluation):
    ev = cdnow_evaluation
    assert ev.customers == 23570
    assert datetime.fromtimestamp(ev.cut_ms / 1000, UTC) == datetime(1998, 4, 2, tzinfo=UTC)
    assert ev.auc_model is not None and ev.auc_recency_rule is not None
    assert ev.auc_model > 0.75 and ev.auc_model > ev.auc_recency_rule
    assert ev.auc_model >= ev.auc_recency_days  # recency as a score is the harder baseline
    assert ev.revenue_error_model is not None and ev.revenue_error_baseline is not None
    assert abs(ev.revenue_error_model) < 0.2
    assert abs(ev.revenue_error_model) < abs(ev.revenue_error_baseline)
    assert ev.revenue_mae_model < ev.revenue_mae_baseline


def test_figures_are_counted_from_the_holdout(cdnow_evaluation):
    history = orders()
    cut = cdnow_evaluation.cut_ms
    first = {}
    for customer, at, _ in history:
        first[customer] = min(first.get(customer, at), at)
    known = {c for c, at in first.items() if at < cut}
    in_holdout = [(c, at, v) for c, at, v in history if c in known and cut <= at < cut + 90 * DAY]
    assert cdnow_evaluation.revenue_actual == pytest.approx(sum(v for _, _, v in in_holdout))
    assert cdnow_evaluation.churned == len(known - {c for c, _, _ in in_holdout})
    assert cdnow_evaluation.orders_actual == len({(c, at // DAY) for c, at, _ in in_holdout})


def test_an_empty_holdout_is_not_enough_data():
    history = [("a", 0, 10.0), ("a", 5 * DAY, 10.0), ("b", DAY, 5.0), ("b", 3 * DAY, 7.0)]
    with pytest.raises(NotEnoughData, match="holdout"):
        evaluate(history, 10 * DAY, 90, 90)
