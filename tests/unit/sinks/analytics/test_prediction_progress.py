"""What ``predict train`` says about churn triggers: a tenant's first run is the baseline,
not "0 crossed since the previous run" (there was none)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from models.churn import ChurnAlertRule
from sinks.analytics.prediction import train
from sinks.stats.errors import NotEnoughData

DAY_MS = 86_400_000


class FakeClient:
    """Answers train()'s reads: three customers' orders, ``horizons`` of earlier runs and
    no earlier forecasts; keeps what is inserted."""

    def __init__(self, horizons: list[float]) -> None:
        self.horizons = horizons
        self.inserted: dict[str, list] = {}

    def query(self, sql: str, parameters: dict) -> SimpleNamespace:
        if "toUnixTimestamp64Milli" in sql:
            rows = [(f"c{i}", (20_000 + i * 10 + k) * DAY_MS, Decimal("50.0000"))
                    for i in range(3) for k in range(2)]
        elif "FROM prediction_runs" in sql:
            rows = [(h,) for h in self.horizons]
        else:  # the latest forecasts
            rows = []
        return SimpleNamespace(result_rows=rows)

    def insert(self, table: str, rows: list, column_names: list[str]) -> None:
        self.inserted.setdefault(table, []).extend(rows)


@pytest.fixture
def no_model(monkeypatch):
    """The model's fit, forecast and evaluation stubbed: this is about the run's bookkeeping."""
    def skipped(*args, **kwargs):
        raise NotEnoughData("stubbed")

    def forecast(model, summary, horizon_days):
        n = len(summary.customers)
        return SimpleNamespace(p_alive=[0.3] * n, expected_orders=[0.1] * n,
                               expected_revenue=[5.0] * n, churn_risk=[0.9] * n)

    monkeypatch.setattr("sinks.stats.clv_evaluation.evaluate", skipped)
    monkeypatch.setattr("sinks.stats.clv.fit_clv", lambda summary: SimpleNamespace(params=dict))
    monkeypatch.setattr("sinks.stats.clv.forecast", forecast)


@pytest.mark.parametrize(("horizons", "said"), [
    ([], "the first run of tenant 'shop': nothing to compare with, so this run is the baseline"),
    ([30.0], "the previous run forecast 30 days, this one 90"),
    ([90.0], "0 valuable customer(s) crossed churn risk 0.5 since the previous run"),
])
def test_the_run_says_what_its_churn_triggers_are_compared_with(no_model, horizons, said):
    client, lines = FakeClient(horizons), []
    result = train(client, "shop", 90, 90, datetime(2026, 3, 1, tzinfo=UTC), lines.append,
                   alert_rule=ChurnAlertRule(0.5, 0.0))
    assert result.alerts == ()
    assert any(said in line for line in lines), lines
    assert not any("crossed" in line for line in lines) or horizons == [90.0], lines
    assert len(client.inserted["customer_predictions"]) == 3
