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

from models.errors import ShopstreamError
from models.serde import dumps
from models.settings import Settings, load_settings
from models.times import format_time
from sinks.reports import Table
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
    from sinks.analytics.prediction import train
    from sinks.database import open_database
    from streams.cli.queries import owning_worker

    if owning_worker(settings):
        raise ShopstreamError(
            f"a worker owns the embedded ClickHouse in {settings.data_dir}; stop it before "
            "`predict train` (or train against a ClickHouse server), then start it again")
    client = open_database(settings)
    result = train(client, tenant, horizon, settings.predict_churn_rule_days, datetime.now(UTC),
                   progress=lambda text: print(text, file=sys.stderr, flush=True))
    run = {"run_at": result.run_at, "data_end": result.data_end, "horizon_days": horizon,
           "customers": result.customers, "params": result.params,
           "evaluation": result.evaluation}
    _write(run, fmt)
    return 0


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
    p.add_argument("--tenant", help="tenant (default: $SHOPSTREAM_DEFAULT_TENANT)")
    p.add_argument("--horizon-days", type=float,
                   help="train: forecast span (default: $SHOPSTREAM_PREDICT_HORIZON_DAYS, 90)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=run)
