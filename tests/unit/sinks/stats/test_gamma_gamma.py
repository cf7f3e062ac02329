"""Gamma-Gamma on the CDNOW repeat customers: the published parameters (Fader and Hardie,
"The Gamma-Gamma Model of Monetary Value", 2013) and ``lifetimes``' figures."""

from __future__ import annotations

import numpy as np
import pytest

from sinks.stats.errors import NotEnoughData
from sinks.stats.gamma_gamma import GammaGammaParams, expected_order_value, fit_gamma_gamma
from tests.unit.sinks.stats.cdnow import summary

PUBLISHED = GammaGammaParams(p=6.25, q=3.74, v=15.44)


@pytest.fixture(scope="module")
def cdnow():
    rows = summary()
    return np.array([r["x"] for r in rows]), np.array([r["zbar"] for r in rows])


def test_parameters_match_the_paper_within_one_percent(cdnow):
    fitted = fit_gamma_gamma(*cdnow)  # customers without repeat purchases are left out
    for name in ("p", "q", "v"):
        assert getattr(fitted, name) == pytest.approx(getattr(PUBLISHED, name), rel=0.01), name


def test_expected_values_match_lifetimes(cdnow):
    from lifetimes import GammaGammaFitter

    x, m = cdnow
    repeat = x > 0
    reference = GammaGammaFitter().fit(x[repeat], m[repeat])
    fitted = fit_gamma_gamma(x, m)
    for name in ("p", "q", "v"):
        assert getattr(fitted, name) == pytest.approx(float(reference.params_[name]), rel=1e-3)
    np.testing.assert_allclose(expected_order_value(fitted, x, m),
                               reference.conditional_expected_average_profit(x, m), rtol=1e-4)


def test_without_repeat_purchases_the_expected_value_is_the_population_mean():
    params = GammaGammaParams(p=6.0, q=4.0, v=15.0)
    assert expected_order_value(params, [0], [0])[0] == pytest.approx(6.0 * 15.0 / 3.0)
    # the more orders, the closer to the customer's own mean
    values = expected_order_value(params, [1, 10, 1000], [100, 100, 100])
    assert 30 < values[0] < values[1] < values[2] < 100
    assert values[2] == pytest.approx(100, rel=0.01)


def test_too_few_repeat_customers_is_not_enough_data():
    with pytest.raises(NotEnoughData):
        fit_gamma_gamma([0, 0, 3], [0, 0, 20.0])
