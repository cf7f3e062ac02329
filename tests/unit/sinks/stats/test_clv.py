"""The forecast composes BG/NBD and Gamma-Gamma per customer."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from sinks.stats.bgnbd import expected_purchases, p_alive, p_no_purchase
from sinks.stats.clv import fit_clv, forecast
from sinks.stats.gamma_gamma import expected_order_value
from sinks.stats.purchase_history import summarise
from tests.unit.sinks.stats.cdnow import orders


def test_forecast_is_orders_times_value_and_risk_follows_recency():
    end = int(datetime(1997, 10, 1, tzinfo=UTC).timestamp() * 1000)
    summary = summarise(orders("CDNOW_sample.txt"), end)
    model = fit_clv(summary)
    result = forecast(model, summary, 90)
    x, t_x, T = summary.frequency, summary.recency, summary.age
    np.testing.assert_allclose(result.expected_orders, expected_purchases(model.purchases, 90, x, t_x, T))
    np.testing.assert_allclose(result.p_alive, p_alive(model.purchases, x, t_x, T))
    np.testing.assert_allclose(result.churn_risk, p_no_purchase(model.purchases, 90, x, t_x, T))
    np.testing.assert_allclose(result.expected_revenue, result.expected_orders
                               * expected_order_value(model.value, x, summary.monetary))
    assert ((result.churn_risk >= 0) & (result.churn_risk <= 1)).all()
    # two customers alike but for the time since their last purchase: the quieter one is
    # more at risk
    same = [i for i in range(len(x)) if x[i] == 3]
    recent = min(same, key=lambda i: T[i] - t_x[i])
    quiet = max(same, key=lambda i: T[i] - t_x[i])
    assert result.churn_risk[quiet] > result.churn_risk[recent]
    assert model.params()["bgnbd"]["r"] == pytest.approx(model.purchases.r)
