"""BG/NBD: how often a customer buys while alive, and whether they still are.

Fader, Hardie and Lee (2005), "Counting your customers the easy way". Each customer buys
at a Poisson rate lambda ~ Gamma(r, alpha) and after each purchase drops out with
probability p ~ Beta(a, b). A customer is summarised by ``x`` (repeat purchases: purchase
periods after the first), ``t_x`` (time from the first to the last purchase) and ``T`` (time
from the first purchase to the end of the data), all in one time unit (shopstream: days).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from sinks.stats.errors import FitFailed, NotEnoughData, check_shapes

Array = NDArray[np.float64]


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float


def _arrays(*values: ArrayLike) -> list[Array]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def log_likelihood(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """Each customer's log-likelihood (equation 6 of the paper, in logs)."""
    x_, t_x_, T_ = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    common = (gammaln(r + x_) - gammaln(r) + r * np.log(alpha)
              + betaln(a, b + x_) - betaln(a, b))
    alive = -(r + x_) * np.log(alpha + T_)
    repeat = x_ > 0
    # dropped out after the last purchase: B(a+1, b+x-1) / B(a, b+x) = a / (b+x-1)
    dropped = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x_ - 1, 1.0))
                       - (r + x_) * np.log(alpha + t_x_), -np.inf)
    return common + np.logaddexp(alive, dropped)


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> BgNbdParams:
    """Maximum-likelihood parameters. Customers with the same ``(x, t_x, T)`` are counted
    once with a weight, so a large shop costs what its distinct histories cost."""
    x_, t_x_, T_ = _arrays(x, t_x, T)
    if x_.size < 2 or not np.any(x_ > 0):
        raise NotEnoughData(f"BG/NBD needs customers with repeat purchases; got {x_.size} "
                            f"customer(s), {int(np.sum(x_ > 0))} with a repeat purchase")
    if np.any(x_ < 0) or np.any(t_x_ < 0) or np.any(T_ < t_x_):
        raise ValueError("BG/NBD needs x >= 0 and 0 <= t_x <= T for every customer")
    histories, weights = np.unique(np.column_stack([x_, t_x_, T_]), axis=0, return_counts=True)
    hx, ht, hT = histories.T
    total = float(weights.sum())

    def objective(log_params: Array) -> float:
        r, alpha, a, b = np.exp(log_params)
        ll = log_likelihood(BgNbdParams(r, alpha, a, b), hx, ht, hT)
        return float(-(weights * ll).sum() / total)

    start = np.log([1.0, float(np.mean(T_)) or 1.0, 1.0, 1.0])
    result = minimize(objective, start, method="Nelder-Mead",
                      options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 20_000, "maxfev": 40_000})
    if not result.success or not np.all(np.isfinite(result.x)):
        raise FitFailed(f"BG/NBD fit did not converge on {int(total)} customer(s): "
                        f"{result.message} (the orders may show no one leaving, or too few "
                        "customers to tell)")
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    check_shapes("BG/NBD", int(total), r=r, a=a, b=b)
    return BgNbdParams(r, alpha, a, b)


def p_alive(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """Probability that each customer is still active at ``T`` (1 without repeat purchases,
    as the model has them drop out only right after a purchase)."""
    x_, t_x_, T_ = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x_ > 0
    log_odds = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x_ - 1, 1.0))
                        + (r + x_) * (np.log(alpha + T_) - np.log(alpha + t_x_)), -np.inf)
    return 1.0 / (1.0 + np.exp(log_odds))


def expected_purchases(params: BgNbdParams, t: float, x: ArrayLike, t_x: ArrayLike,
                       T: ArrayLike) -> Array:
    """Expected purchases in the next ``t`` time units (equation 10 of the paper)."""
    x_, t_x_, T_ = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    ratio = (alpha + T_) / (alpha + T_ + t)
    tail = 1.0 - ratio ** (r + x_) * hyp2f1(r + x_, b + x_, a + b + x_ - 1, t / (alpha + T_ + t))
    return (a + b + x_ - 1) / (a - 1) * tail * p_alive(params, x_, t_x_, T_)


def p_no_purchase(params: BgNbdParams, t: float, x: ArrayLike, t_x: ArrayLike,
                  T: ArrayLike) -> Array:
    """Probability of no purchase in the next ``t`` time units: dropped out already, or
    alive with a rate (posterior Gamma(r + x, alpha + T)) that yields nothing in ``t``."""
    x_, t_x_, T_ = _arrays(x, t_x, T)
    quiet_if_alive = ((params.alpha + T_) / (params.alpha + T_ + t)) ** (params.r + x_)
    return 1.0 - p_alive(params, x_, t_x_, T_) * (1.0 - quiet_if_alive)
