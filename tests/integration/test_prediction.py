"""The customer lifetime model on real purchases through ClickHouse: the CDNOW sample
(2,357 customers, 6,919 purchases, shipped in the ``lifetimes`` wheel) ingested as events,
then ``predict train``. The orders read back, the fitted parameters (against ``lifetimes``
on the same orders, within 1%), the stored evaluation (against the pure evaluation of the
file's orders), the forecasts in ``report customers``, and ``predict report``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from models.ecommerce import EventName
from models.times import as_utc
from models.validation import Rules
from sinks.analytics.prediction import order_history, train
from sinks.reports import ReportParams, run_report
from sinks.stats.clv_evaluation import evaluate
from sinks.stats.errors import NotEnoughData
from sinks.writer import ClickHouseWriter
from streams.sources.ingest import ingest
from tests.unit.sinks.stats.cdnow import SHIFT, order_events, orders

NOW = datetime(2026, 12, 1, tzinfo=UTC)
DAY = 86_400_000


def load(client, tmp_path, events, name="events.jsonl"):
    source = tmp_path / name
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    summary = ingest(source, "jsonl", ClickHouseWriter(client), Rules(), tmp_path / "dead.jsonl",
                     now=lambda: NOW)
    assert summary.invalid == 0
    return summary


@pytest.fixture
def cdnow(clickhouse, tmp_path):
    load(clickhouse, tmp_path, order_events("CDNOW_sample.txt"))
    return clickhouse


def shifted_orders():
    shift = int(SHIFT.total_seconds() * 1000)
    return [(c, at + shift, v) for c, at, v in orders("CDNOW_sample.txt")]


def test_orders_read_back_exactly(cdnow):
    history = order_history(cdnow, "default")
    expected = shifted_orders()
    assert len(history) == len(expected) == 6919
    assert sorted((c, at, round(Decimal(v), 2)) for c, at, v in expected) == sorted(history)


def test_train_stores_parameters_matching_lifetimes_and_the_pure_evaluation(cdnow):
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    result = train(cdnow, "default", horizon_days=90, rule_days=90, now=NOW)
    expected = shifted_orders()
    end = (max(at for _, at, _ in expected) // DAY + 1) * DAY
    assert result.data_end == datetime.fromtimestamp(end / 1000, UTC)
    assert result.customers == 2357

    frame = pd.DataFrame(expected, columns=["customer", "ms", "value"])
    frame["date"] = pd.to_datetime(frame["ms"], unit="ms")
    last_day = (result.data_end - timedelta(days=1)).strftime("%Y-%m-%d")
    reference = summary_data_from_transaction_data(frame, "customer", "date", "value",
                                                   observation_period_end=last_day)
    bgnbd = BetaGeoFitter().fit(reference["frequency"], reference["recency"], reference["T"])
    for name in ("r", "alpha", "a", "b"):
        assert result.params["bgnbd"][name] == pytest.approx(float(bgnbd.params_[name]), rel=0.01)
    repeat = reference[reference["frequency"] > 0]
    gamma = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    for name in ("p", "q", "v"):
        assert result.params["gamma_gamma"][name] == pytest.approx(float(gamma.params_[name]),
                                                                   rel=0.01)

    pure = evaluate(expected, end - 90 * DAY, 90, 90).as_dict()
    assert result.evaluation == pytest.approx(pure)
    assert result.evaluation["auc_model"] > result.evaluation["auc_recency_rule"]
    stored = cdnow.query("SELECT customers, params, evaluation FROM prediction_runs").result_rows
    assert [(n, orjson.loads(p), orjson.loads(e)) for n, p, e in stored] == [
        (2357, result.params, result.evaluation)]


def test_report_customers_shows_the_forecasts(cdnow):
    before = run_report(cdnow, "customers", ReportParams(limit=0)).records()
    assert len(before) == 2357 and {r["p_alive"] for r in before} == {None}
    train(cdnow, "default", horizon_days=90, rule_days=90, now=NOW)
    rows = {r["user_id"]: r for r in run_report(cdnow, "customers", ReportParams(limit=0)).records()}
    stored = {user: (p, o, r, c) for user, p, o, r, c in cdnow.query(
        "SELECT user_key, p_alive, expected_orders, expected_revenue, churn_risk "
        "FROM customer_predictions FINAL").result_rows}
    assert set(rows) == set(stored)
    for user, (p_alive, expected_orders, revenue, churn) in stored.items():
        row = rows[user]
        assert (row["p_alive"], row["expected_orders"], row["expected_revenue"],
                row["churn_risk"]) == (round(p_alive, 4), round(expected_orders, 2), revenue,
                                       round(churn, 4))
        assert 0 <= row["churn_risk"] <= 1 and row["expected_revenue"] >= 0
    # a second run replaces each customer's forecast (the latest wins)
    train(cdnow, "default", horizon_days=30, rule_days=30, now=NOW + timedelta(hours=1))
    (count, first, last), = cdnow.query(
        "SELECT count(), min(run_at), max(run_at) FROM customer_predictions FINAL").result_rows
    assert (count, as_utc(first), as_utc(last)) == (2357, NOW + timedelta(hours=1),
                                                    NOW + timedelta(hours=1))


def test_cancelled_orders_do_not_count_and_refunds_reduce_an_order(clickhouse, tmp_path):
    def order(n, user, day, total, event=EventName.ORDER_COMPLETED, order_id=None):
        props = {"order_id": order_id or f"o{n}", "total": total, "currency": "USD"}
        if event == EventName.ORDER_COMPLETED:
            props["products"] = [{"product_id": "p1", "price": total, "quantity": 1}]
        return {"type": "track", "event": str(event), "userId": user, "messageId": f"m{n}",
                "timestamp": f"2026-03-{day:02d}T12:00:00Z", "properties": props}

    load(clickhouse, tmp_path, [
        order(1, "ann", 1, "40.00"), order(2, "ann", 5, "10.00"),
        order(3, "ann", 6, "10.00", EventName.ORDER_REFUNDED, "o2"),  # fully refunded: 0
        order(4, "ann", 9, "25.00"), order(5, "ann", 9, "25.00", EventName.ORDER_CANCELLED, "o4"),
        order(6, "ben", 2, "30.00"), order(7, "ben", 3, "12.00", EventName.ORDER_REFUNDED, "o6"),
    ])
    history = order_history(clickhouse, "default")
    at = {d: int(datetime(2026, 3, d, 12, tzinfo=UTC).timestamp() * 1000) for d in (1, 2, 5)}
    assert history == [("ann", at[1], Decimal("40")), ("ben", at[2], Decimal("18")),
                       ("ann", at[5], Decimal("0"))]
    with pytest.raises(NotEnoughData):  # two customers, one repeat: nothing to fit on
        train(clickhouse, "default", 90, 90, NOW)


def test_predict_report_through_the_command_line(cdnow, chdb_url, monkeypatch, capsys):
    from streams.cli.main import main

    monkeypatch.setenv("CLICKHOUSE_URL", chdb_url)
    monkeypatch.setenv("SHOPSTREAM_CLICKHOUSE_DATABASE", cdnow.database)
    assert main(["predict", "report"]) == 2  # no run yet: a message, not a traceback
    assert "no prediction run for tenant 'default' yet" in capsys.readouterr().err
    result = train(cdnow, "default", horizon_days=90, rule_days=90, now=NOW)
    assert main(["predict", "report", "--format", "json"]) == 0
    shown = orjson.loads(capsys.readouterr().out)
    assert (shown["customers"], shown["params"], shown["evaluation"]) == (
        2357, result.params, result.evaluation)
    assert main(["predict", "report", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "figure,model,baseline,actual,note"
    assert lines[1].startswith(f"churn AUC,{round(result.evaluation['auc_model'], 4)},")
