"""Customer lifetime value: BG/NBD for how many orders, Gamma-Gamma for what they are worth,
and the forecast of both over a horizon."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sinks.stats.bgnbd import BgNbdParams, expected_purchases, fit_bgnbd, p_alive, p_no_purchase
from sinks.stats.gamma_gamma import GammaGammaParams, expected_order_value, fit_gamma_gamma
from sinks.stats.purchase_history import PurchaseSummary


@dataclass(frozen=True)
class ClvModel:
    purchases: BgNbdParams
    value: GammaGammaParams

    def params(self) -> dict[str, Any]:
        return {"bgnbd": asdict(self.purchases), "gamma_gamma": asdict(self.value)}


@dataclass(frozen=True)
class Forecast:
    """Per customer of the summary, in its order."""

    p_alive: NDArray[np.float64]
    expected_orders: NDArray[np.float64]
    expected_revenue: NDArray[np.float64]
    churn_risk: NDArray[np.float64]  # probability of no order within the horizon


def fit_clv(summary: PurchaseSummary) -> ClvModel:
    return ClvModel(fit_bgnbd(summary.frequency, summary.recency, summary.age),
                    fit_gamma_gamma(summary.valued, summary.monetary))


def forecast(model: ClvModel, summary: PurchaseSummary, horizon_days: float) -> Forecast:
    x, t_x, T = summary.frequency, summary.recency, summary.age
    orders = expected_purchases(model.purchases, horizon_days, x, t_x, T)
    value = expected_order_value(model.value, summary.valued, summary.monetary)
    return Forecast(p_alive(model.purchases, x, t_x, T), orders, orders * value,
                    p_no_purchase(model.purchases, horizon_days, x, t_x, T))
