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
from sinks.analytics.prediction import latest_predictions, order_history, train
from sinks.reports import ReportParams, run_report
from sinks.stats.clv_evaluation import evaluate
from sinks.stats.errors import FitFailed, NotEnoughData
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
    with pytest.raises((NotEnoughData, FitFailed)):  # two customers, one repeat: no model
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


def test_churn_risk_triggers_for_valuable_customers_who_crossed_the_threshold(
        cdnow, tmp_path, kafka, settings):
    from models.churn import ChurnAlertRule
    from models.triggers import ChurnRisk
    from streams.cli.predict import churn_triggers, send_churn_triggers
    from tests.support import read_topic

    rule = ChurnAlertRule(threshold=0.5, min_revenue=100.0)
    seen: list[list] = []
    first = train(cdnow, "default", 90, 90, NOW, alert_rule=rule,
                  before_write=lambda alerts, end: seen.append(alerts))
    assert first.alerts == () and seen == [[]]  # a first run has nothing to compare with

    # 150 quiet days for everyone but a newcomer, whose order moves the end of the data on
    later = first.data_end + timedelta(days=150)  # (before NOW: no future timestamps)
    load(cdnow, tmp_path, [{
        "type": "track", "event": str(EventName.ORDER_COMPLETED), "userId": "newcomer",
        "messageId": "later-1", "timestamp": later.isoformat(),
        "properties": {"order_id": "later-1", "total": "20.00", "currency": "USD",
                       "products": [{"product_id": "cds", "price": "20.00", "quantity": 1}]}}],
         name="later.jsonl")
    risk_before = {user: float(row[3]) for user, row in
                   latest_predictions(cdnow, "default").items()}
    sent_at = NOW + timedelta(days=1)
    second = train(cdnow, "default", 90, 90, sent_at, alert_rule=rule,
                   before_write=lambda alerts, end: send_churn_triggers(
                       settings, "default", alerts, end, sent_at, 90, rule, "USD"))

    # the alerts, worked out independently from the two runs' stored forecasts and the orders
    revenue: dict[str, Decimal] = {}
    for user, _at, value in order_history(cdnow, "default"):
        revenue[user] = revenue.get(user, Decimal(0)) + value
    risk_after = {user: float(row[3]) for user, row in
                  latest_predictions(cdnow, "default").items()}
    expected = {user for user, risk in risk_after.items()
                if risk >= 0.5 and risk_before.get(user, 0.0) < 0.5 and revenue[user] >= 100}
    assert expected, "150 quiet days must push some valuable customer over the threshold"
    assert {a.user_key for a in second.alerts} == expected
    for alert in second.alerts:
        assert alert.previous_churn_risk == pytest.approx(risk_before[alert.user_key])
        assert alert.revenue == round(revenue[alert.user_key], 2)

    # on Kafka: one valid trigger per alert, with the ids the same run would give again
    records = read_topic(kafka, settings.topics.triggers["churn_risk"])
    triggers = [ChurnRisk.model_validate(orjson.loads(r.value)) for r in records]
    assert sorted(t.user_id for t in triggers) == sorted(expected)
    again = churn_triggers("default", list(second.alerts), second.data_end, sent_at, 90, rule,
                           "USD")
    assert sorted(t.trigger_id for t in triggers) == sorted(t.trigger_id for t in again)
    assert all(t.time == second.data_end and t.churn_risk >= 0.5 and t.currency == "USD"
               for t in triggers)



def test_a_run_with_another_horizon_is_a_new_baseline_without_churn_triggers(cdnow):
    """The risk of no order within 30 days is not that within a year: a run whose horizon
    differs from the previous run's would see valuable customers "cross" the threshold by
    the horizon alone. It is a new baseline and sends none; the next at the same horizon
    compares again."""
    from models.churn import ChurnAlertRule

    rule = ChurnAlertRule(threshold=0.5, min_revenue=100.0)
    said: list[str] = []
    train(cdnow, "default", 365, 90, NOW, alert_rule=rule)
    risk_year = {user: float(row[3]) for user, row in latest_predictions(cdnow, "default").items()}
    month = train(cdnow, "default", 30, 90, NOW + timedelta(days=1), alert_rule=rule,
                  progress=said.append)
    risk_month = {user: float(row[3]) for user, row in latest_predictions(cdnow, "default").items()}
    revenue: dict[str, Decimal] = {}
    for user, _at, value in order_history(cdnow, "default"):
        revenue[user] = revenue.get(user, Decimal(0)) + value
    crossed = {user for user, risk in risk_month.items()
               if risk_year[user] < 0.5 <= risk and revenue[user] >= 100}
    assert crossed and month.alerts == ()  # (what comparing the two runs would have sent)
    assert "the previous run forecast 365 days, this one 30: its churn risks are not " \
        "comparable, so this run is the new baseline (no churn triggers)" in said, said
    again = train(cdnow, "default", 30, 90, NOW + timedelta(days=2), alert_rule=rule,
                  progress=said.append)
    assert again.alerts == () and "0 valuable customer(s) crossed churn risk 0.5 since the " \
        "previous run" in said, said
