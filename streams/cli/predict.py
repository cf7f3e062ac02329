"""``shopstream predict train|report``: the customer lifetime model (BG/NBD + Gamma-Gamma).

``train`` judges the model on a time split (the last ``SHOPSTREAM_PREDICT_HORIZON_DAYS``
held out) against the recency rule, fits it on every order, and stores each customer's
forecast in ClickHouse (``customer_predictions``, shown by ``report customers``) with the
run (``prediction_runs``). ``report`` shows the latest run: its evaluation and parameters.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import KafkaException

from models.churn import ChurnAlertRule
from models.errors import ShopstreamError
from models.serde import dumps
from models.settings import Settings, load_settings
from models.times import format_time, ms_to_datetime
from models.triggers import ChurnRisk, trigger_id
from sinks.analytics.prediction import ChurnAlert
from sinks.reports import Table
from streams.cli.command import positive_number, tenant_arg
from streams.cli.output import write_table


def _round(value: Any, digits: int) -> Any:
    return None if value is None else round(float(value), digits)


def evaluation_table(run: dict[str, Any]) -> Table:
    """The run's figures, model against baseline, then its parameters (one row each)."""
    ev, params = run["evaluation"], run["params"]
    horizon = f"{run['horizon_days']:g}"
    rows: list[list[Any]] = []
    if "skipped" in ev:
        rows.append(["evaluation", None, None, None, ev["skipped"]])
    else:
        rule = f"recency > {ev['rule_days']:g} days"
        rows += [
            ["churn AUC", _round(ev["auc_model"], 4), _round(ev["auc_recency_rule"], 4), None, rule],
            ["churn AUC, days since last order as the score", None,
             _round(ev["auc_recency_days"], 4), None, "recency as a score"],
            [f"revenue in the {horizon} days held out", _round(ev["revenue_model"], 2),
             _round(ev["revenue_baseline"], 2), _round(ev["revenue_actual"], 2),
             f"the {horizon} days before the cut repeated"],
            ["revenue error (forecast - actual) / actual", _round(ev["revenue_error_model"], 4),
             _round(ev["revenue_error_baseline"], 4), None, ""],
            ["revenue mean absolute error per customer", _round(ev["revenue_mae_model"], 2),
             _round(ev["revenue_mae_baseline"], 2), None, ""],
            [f"order days in the {horizon} days held out", _round(ev["orders_model"], 1), None,
             ev["orders_actual"], ""],
            ["customers at the cut (churned)", ev["customers"], None, ev["churned"], ""],
        ]
    for model, values in params.items():
        rows += [[f"{model} {name}", _round(value, 6), None, None, "fitted on every order; time in days"]
                 for name, value in values.items()]
    return Table(["figure", "model", "baseline", "actual", "note"], rows)


def _train(settings: Settings, tenant: str, horizon: float, fmt: str) -> int:
    from sinks.analytics.prediction import Money, train
    from sinks.database import open_database
    from streams.cli.queries import owning_worker, report_params

    if owning_worker(settings):
        raise ShopstreamError(
            f"a worker owns the embedded ClickHouse in {settings.data_dir}; stop it before "
            "`predict train` (or train against a ClickHouse server), then start it again")
    client = open_database(settings)
    now = datetime.now(UTC)
    rule = ChurnAlertRule(settings.predict_churn_threshold, settings.predict_churn_min_revenue)
    params = report_params(settings, tenant=tenant)  # (the tenant's reporting currency)
    money = Money(params.reporting_currency, params.fx_base)
    result = train(client, tenant, horizon, settings.predict_churn_rule_days, now,
                   progress=lambda text: print(text, file=sys.stderr, flush=True),
                   alert_rule=rule,
                   before_write=lambda alerts, data_end: send_churn_triggers(
                       settings, tenant, alerts, data_end, now, horizon, rule, money.reporting),
                   money=money)
    run = {"run_at": result.run_at, "data_end": result.data_end, "horizon_days": horizon,
           "customers": result.customers, "params": result.params,
           "evaluation": result.evaluation}
    _write(run, fmt)
    return 0


def churn_triggers(tenant: str, alerts: list[ChurnAlert], data_end: datetime, now: datetime,
                   horizon: float, rule: ChurnAlertRule, currency: str) -> list[ChurnRisk]:
    """One ``churn_risk`` trigger per alert; its id is derived from the customer and the end
    of the data, so a retrain on the same data repeats the id, never a new one."""
    return [ChurnRisk(
        trigger_id=trigger_id("churn_risk", tenant, a.user_key, format_time(data_end)),
        tenant=tenant, time=data_end, emitted_at=now, user_id=a.user_key,
        churn_risk=round(a.churn_risk, 6),
        previous_churn_risk=None if a.previous_churn_risk is None else round(a.previous_churn_risk, 6),
        threshold=rule.threshold, p_alive=round(a.p_alive, 6),
        expected_orders=round(a.expected_orders, 4), expected_revenue=a.expected_revenue,
        horizon_days=horizon, orders=a.orders, revenue=a.revenue, currency=currency,
        last_order_at=ms_to_datetime(a.last_order_ms)) for a in alerts]


def send_churn_triggers(settings: Settings, tenant: str, alerts: list[ChurnAlert],
                        data_end: datetime, now: datetime, horizon: float,
                        rule: ChurnAlertRule, currency: str) -> None:
    """Send the run's triggers to ``shop.triggers.churn_risk`` and wait for the broker's
    acknowledgement, before the run is stored (see ``train``)."""
    if not alerts:
        return
    from streams.kafka.discovery import configured_bootstrap
    from streams.sdk.sender import kafka_sender

    topic = settings.topics.triggers["churn_risk"]
    bootstrap = configured_bootstrap(settings)
    if bootstrap is None:
        raise ShopstreamError(
            f"{len(alerts)} churn_risk trigger(s) to send but no Kafka broker (set "
            "KAFKA_BOOTSTRAP or start one); nothing was stored, so the next run sends them")
    try:
        with kafka_sender(bootstrap, topic) as send:
            assert send is not None
            for trigger in churn_triggers(tenant, alerts, data_end, now, horizon, rule, currency):
                send(str(trigger.user_id), dumps(trigger.model_dump()))
    except (RuntimeError, KafkaException) as exc:
        raise ShopstreamError(
            f"{len(alerts)} churn_risk trigger(s) not acknowledged by Kafka at {bootstrap} "
            f"({exc}); nothing was stored, so the next run sends them") from None
    print(f"sent {len(alerts)} churn_risk trigger(s) to {topic}", file=sys.stderr, flush=True)


def _write(run: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(dumps(run).decode() + "\n")
    else:
        write_table(evaluation_table(run), fmt, sys.stdout)


def _report(settings: Settings, tenant: str, fmt: str) -> int:
    from sinks.analytics.prediction import latest_run_query
    from streams.cli.queries import query_backend

    table = query_backend(settings).sql(latest_run_query(tenant))
    if not table.rows:
        raise ShopstreamError(f"no prediction run for tenant {tenant!r} yet: run "
                              "`shopstream predict train`")
    run = table.records()[0]
    run["params"] = orjson.loads(run["params"])
    run["evaluation"] = orjson.loads(run["evaluation"])
    print(f"latest run {_when(run['run_at'])}: {run['customers']} customers, orders before "
          f"{_when(run['data_end'])}, horizon {run['horizon_days']:g} days", file=sys.stderr)
    _write(run, fmt)
    return 0


def _when(value: Any) -> str:
    return format_time(value) if isinstance(value, datetime) else str(value)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    tenant = args.tenant or settings.default_tenant
    if args.action == "train":
        horizon = args.horizon_days or settings.predict_horizon_days
        if horizon <= 0:
            raise ShopstreamError("--horizon-days must be positive")
        return _train(settings, tenant, horizon, args.format)
    return _report(settings, tenant, args.format)


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("predict", "customer lifetime model: train (evaluate, fit, store forecasts) or "
            "report the latest run")
    p.add_argument("action", choices=["train", "report"])
    p.add_argument("--tenant", type=tenant_arg, help="tenant (default: $SHOPSTREAM_DEFAULT_TENANT)")
    p.add_argument("--horizon-days", type=positive_number,
                   help="train: forecast span, > 0 (default: $SHOPSTREAM_PREDICT_HORIZON_DAYS, 90)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=run)
