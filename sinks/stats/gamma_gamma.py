"""Gamma-Gamma: what a customer's orders are worth on average.

Fader, Hardie and Lee (2005), "RFM and CLV", and Fader and Hardie (2013), "The Gamma-Gamma
Model of Monetary Value". Order values vary around a customer's own mean, Gamma(p, nu), and
the means vary across customers, nu ~ Gamma(q, v). Fitted on customers with repeat purchases,
from ``x`` (repeat purchases) and ``m`` (their mean value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import gammaln

from sinks.stats.errors import FitFailed, NotEnoughData, check_shapes

Array = NDArray[np.float64]


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float


def log_likelihood(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> Array:
    x_, m_ = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    p, q, v = params.p, params.q, params.v
    return (gammaln(p * x_ + q) - gammaln(p * x_) - gammaln(q) + q * np.log(v)
            + (p * x_ - 1) * np.log(m_) + p * x_ * np.log(x_) - (p * x_ + q) * np.log(v + x_ * m_))


def fit_gamma_gamma(x: ArrayLike, m: ArrayLike) -> GammaGammaParams:
    """Maximum-likelihood parameters from the customers with repeat purchases of a positive
    mean value (others carry no information on spend variation and are left out)."""
    x_, m_ = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    keep = (x_ > 0) & (m_ > 0)
    x_, m_ = x_[keep], m_[keep]
    if x_.size < 2:
        raise NotEnoughData(f"Gamma-Gamma needs customers with repeat purchases of some value; "
                            f"got {x_.size}")

    def objective(log_params: Array) -> float:
        p, q, v = np.exp(log_params)
        return float(-log_likelihood(GammaGammaParams(p, q, v), x_, m_).mean())

    start = np.log([1.0, 2.0, float(np.mean(m_))])
    result = minimize(objective, start, method="Nelder-Mead",
                      options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 20_000, "maxfev": 40_000})
    if not result.success or not np.all(np.isfinite(result.x)):
        raise FitFailed(f"Gamma-Gamma fit did not converge: {result.message}")
    p, q, v = (float(value) for value in np.exp(result.x))
    check_shapes("Gamma-Gamma", int(x_.size), p=p, q=q)
    if q <= 1:
        raise FitFailed(f"Gamma-Gamma fit gave q = {q:.3f} <= 1: mean order values vary too "
                        "much across customers for an expected value")
    return GammaGammaParams(p, q, v)


def expected_order_value(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> Array:
    """Each customer's expected order value: a weighted mean of the population's mean
    (``p v / (q - 1)``) and their own ``m``, their own counting more the more they bought.
    Without repeat purchases (``x = 0``) it is the population's mean."""
    x_, m_ = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    p, q, v = params.p, params.q, params.v
    return p * (v + x_ * m_) / (p * x_ + q - 1)
