"""BG/NBD on the CDNOW data of the paper: the published parameters and log-likelihood, and
the reference implementation's (``lifetimes``) parameters and per-customer figures."""

from __future__ import annotations

import numpy as np
import pytest

from sinks.stats.bgnbd import (
    BgNbdParams,
    expected_purchases,
    fit_bgnbd,
    log_likelihood,
    p_alive,
    p_no_purchase,
)
from sinks.stats.errors import NotEnoughData
from tests.unit.sinks.stats.cdnow import summary

# Fader, Hardie and Lee (2005), section 5: CDNOW, 39 weeks of calibration, time in weeks
PUBLISHED = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
PUBLISHED_LL = -9582.4


@pytest.fixture(scope="module")
def cdnow():
    rows = summary()
    return tuple(np.array([r[k] for r in rows]) for k in ("x", "t_x", "T"))


@pytest.fixture(scope="module")
def fitted(cdnow):
    return fit_bgnbd(*cdnow)


def _close(ours: BgNbdParams, reference: BgNbdParams, rel: float) -> None:
    for name in ("r", "alpha", "a", "b"):
        assert getattr(ours, name) == pytest.approx(getattr(reference, name), rel=rel), name


def test_parameters_match_the_paper_within_one_percent(fitted, cdnow):
    _close(fitted, PUBLISHED, 0.01)
    assert log_likelihood(fitted, *cdnow).sum() == pytest.approx(PUBLISHED_LL, abs=0.1)


def test_parameters_and_forecasts_match_lifetimes(fitted, cdnow):
    from lifetimes import BetaGeoFitter

    x, t_x, T = cdnow
    reference = BetaGeoFitter().fit(x, t_x, T)
    _close(fitted, BgNbdParams(*(float(reference.params_[k]) for k in ("r", "alpha", "a", "b"))),
           0.001)
    np.testing.assert_allclose(p_alive(fitted, x, t_x, T),
                               reference.conditional_probability_alive(x, t_x, T), atol=1e-4)
    np.testing.assert_allclose(
        expected_purchases(fitted, 39, x, t_x, T),
        reference.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, T), atol=1e-4)


def test_a_customer_without_repeat_purchases_is_alive_and_quiet_by_the_rate_alone(fitted):
    # no repeat purchase: the model has not had a chance to drop them; the chance of nothing
    # in t weeks is then E[exp(-lambda t)] under the posterior Gamma(r, alpha + T)
    assert p_alive(fitted, [0], [0], [10])[0] == 1.0
    expected = ((fitted.alpha + 10) / (fitted.alpha + 10 + 13)) ** fitted.r
    assert p_no_purchase(fitted, 13, [0], [0], [10])[0] == pytest.approx(expected)


def test_probability_of_no_purchase_against_a_simulation():
    """Shoppers drawn from the model's own story; those whose history is (x = 1, t_x in
    [5, 6), T = 20) go quiet in the next 10 periods as often as the formula says."""
    params = BgNbdParams(r=0.5, alpha=4.0, a=0.8, b=2.5)
    rng = np.random.default_rng(7)
    n = 400_000
    rate = rng.gamma(params.r, 1 / params.alpha, n)
    drop = rng.beta(params.a, params.b, n)
    horizon, T = 10.0, 20.0
    purchases: list[np.ndarray] = []
    now = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    for _ in range(60):
        now = now + rng.exponential(1 / np.maximum(rate, 1e-12))
        bought = alive & (now < T + horizon)
        purchases.append(np.where(bought, now, np.inf))
        alive = bought & (rng.random(n) >= drop)
    times = np.column_stack(purchases)
    x = (times < T).sum(axis=1)
    t_x = np.where(x > 0, np.max(np.where(times < T, times, 0), axis=1), 0)
    later = ((times >= T) & (times < T + horizon)).any(axis=1)
    chosen = (x == 1) & (t_x >= 5) & (t_x < 6)
    assert chosen.sum() > 1000
    simulated = 1 - later[chosen].mean()
    formula = p_no_purchase(params, horizon, x[chosen], t_x[chosen], np.full(chosen.sum(), T)).mean()
    assert simulated == pytest.approx(formula, abs=0.03)


def test_no_repeat_purchases_is_not_enough_data():
    with pytest.raises(NotEnoughData, match="repeat purchases"):
        fit_bgnbd([0, 0, 0], [0, 0, 0], [5, 9, 3])


def test_a_fit_at_the_edge_of_the_model_is_refused_not_stored():
    """Six customers over ten days, two of them buying again a day later: the likelihood is
    best with a -> inf and b -> 0 (no one ever leaves), and the "fit" gave every customer a
    p_alive of 0 or 1. It is refused, saying why; so is the spend model's q -> inf on two
    repeat buyers."""
    from sinks.stats.errors import FitFailed
    from sinks.stats.gamma_gamma import fit_gamma_gamma

    with pytest.raises(FitFailed, match="edge of the model .*a=.*b=.*on 6 customer"):
        fit_bgnbd([1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [9, 8, 9, 8, 2, 1])
    with pytest.raises(FitFailed, match=r"Gamma-Gamma fit ran to the edge .*q="):
        fit_gamma_gamma([1, 1], [25.0, 9.7])
