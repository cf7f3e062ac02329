"""The customer lifetime model against ClickHouse: read the orders, judge the model on a
time split, fit it on everything, and store each customer's forecast.

An order counts with its net value (its total less what was refunded of it); a cancelled
order does not count. Customers are people (``resolved_events``: the user id, or the one
an anonymous id is linked to, else the anonymous id); bots' orders are no customers'
(:mod:`sinks.analytics.bots`). Each run
writes one ``prediction_runs`` row (parameters, evaluation) and one ``customer_predictions``
row per customer, read back by ``report customers`` and ``shopstream predict report``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from clickhouse_connect.driver.client import Client

from models.churn import ChurnAlertRule
from models.ecommerce import EventName as E
from models.money import round_cents
from models.times import as_utc, ms_to_datetime
from sinks.analytics.bots import human_only
from sinks.analytics.currency import converted
from sinks.schema import sql_names
from sinks.stats.errors import NotEnoughData
from sinks.stats.purchase_history import DAY_MS, summarise

if TYPE_CHECKING:  # the model (scipy) is imported by train() only: reading forecasts needs none
    from sinks.stats.clv_evaluation import Evaluation, Order

Progress = Callable[[str], None]

_ORDER_EVENTS = converted(
    "resolved_events", ("revenue",),
    f"tenant = {{tenant:String}} AND order_id != '' AND event IN "
    f"({sql_names(E.ORDER_COMPLETED, E.ORDER_REFUNDED, E.ORDER_CANCELLED)})"
    f"{human_only(include_bots=False)}")
# value: NULL when an amount of the order (its total or a refund) is in a currency without a
# rate; the order still counts as an order
ORDERS_SQL = f"""
SELECT user_key, toUnixTimestamp64Milli(ordered_at) AS at_ms,
       if(missing, NULL, greatest(toDecimal128(0, 4), toDecimal128(total, 4) - refunded)) AS value
FROM (
    SELECT user_key, order_id,
           minIf(event_time, event = {sql_names(E.ORDER_COMPLETED)}) AS ordered_at,
           argMinIf(revenue, event_time, event = {sql_names(E.ORDER_COMPLETED)}) AS total,
           sumIf(toDecimal128(revenue, 4), event = {sql_names(E.ORDER_REFUNDED)}) AS refunded,
           max(fx_missing) AS missing,
           countIf(event = {sql_names(E.ORDER_COMPLETED)}) AS completed,
           countIf(event = {sql_names(E.ORDER_CANCELLED)}) AS cancelled
    FROM ({_ORDER_EVENTS})
    GROUP BY user_key, order_id
    HAVING completed > 0 AND cancelled = 0
)
ORDER BY at_ms, user_key, order_id
"""

PREDICTION_COLUMNS = ("tenant", "user_key", "run_at", "repeat_days", "recency_days", "age_days",
                      "p_alive", "expected_orders", "expected_revenue", "churn_risk")


@dataclass(frozen=True)
class Money:
    """The currency a tenant's forecast money is in (its reporting currency) and the one
    the rates are expressed in (:mod:`models.currency`)."""

    reporting: str = "USD"
    fx_base: str = "USD"

    def parameters(self, tenant: str) -> dict[str, str]:
        return {"tenant": tenant, "reporting": self.reporting, "fx_base": self.fx_base}


def order_history(client: Client, tenant: str, money: Money = Money()) -> list[Order]:
    """``(customer, ordered_at_ms, net value)`` of every order that counts, oldest first; the
    value in ``money``'s reporting currency at the rate of each amount's date, None when the
    order has an amount in a currency without a rate."""
    rows = client.query(ORDERS_SQL, parameters=money.parameters(tenant)).result_rows
    return [(str(user), int(at_ms), None if value is None else Decimal(value))
            for user, at_ms, value in rows]


def data_end_ms(orders: list[Order]) -> int:
    """The end of the data: midnight after the day of the latest order (UTC)."""
    return (max(at_ms for _, at_ms, _ in orders) // DAY_MS + 1) * DAY_MS


@dataclass(frozen=True)
class ChurnAlert:
    """A valuable customer whose churn risk crossed the threshold in this run."""

    user_key: str
    churn_risk: float
    previous_churn_risk: float | None
    p_alive: float
    expected_orders: float
    expected_revenue: Decimal
    orders: int
    revenue: Decimal
    last_order_ms: int


@dataclass(frozen=True)
class TrainingResult:
    run_at: datetime
    data_end: datetime
    customers: int
    params: dict[str, Any]
    evaluation: dict[str, Any]  # Evaluation.as_dict(), or {"skipped": reason}
    alerts: tuple[ChurnAlert, ...] = ()


def train(client: Client, tenant: str, horizon_days: float, rule_days: float, now: datetime,
          progress: Progress = lambda _: None, alert_rule: ChurnAlertRule | None = None,
          before_write: Callable[[list[ChurnAlert], datetime], None] | None = None,
          money: Money = Money()) -> TrainingResult:
    """Evaluate on a time split (the last ``horizon_days`` held out), fit on every order,
    and write the run and every customer's forecast (stamped ``now``). With ``alert_rule``,
    the customers whose risk crossed it since the previous run are returned as alerts, and
    ``before_write(alerts, data_end)`` is called before anything is written: if it fails
    (the triggers could not be sent), the run is not stored and the next one finds the
    same crossings. Money (expected revenue, revenue so far, the evaluation's revenue) is in
    ``money``'s reporting currency."""
    from sinks.stats.clv import fit_clv, forecast
    from sinks.stats.clv_evaluation import evaluate

    progress(f"reading the orders of tenant {tenant!r}")
    orders = order_history(client, tenant, money)
    if not orders:
        raise NotEnoughData(f"no completed orders for tenant {tenant!r}")
    unknown = sum(1 for _, _, value in orders if value is None)
    progress(f"money in {money.reporting} (the tenant's reporting currency)" + (
        f"; {unknown} of {len(orders)} orders have an amount in a currency without an "
        "exchange rate (`shopstream fx load`): they count as orders, not in the spend model "
        "or the revenue figures" if unknown else ""))
    end_ms = data_end_ms(orders)
    progress(f"{len(orders)} orders up to {ms_to_datetime(end_ms - 1):%Y-%m-%d}; evaluating on "
             f"the last {horizon_days:g} days held out")
    evaluation: dict[str, Any]
    try:
        result: Evaluation = evaluate(orders, end_ms - int(horizon_days * DAY_MS), horizon_days,
                                      rule_days)
        evaluation = result.as_dict()
        progress(f"churn AUC {_fmt(result.auc_model)} (recency > {rule_days:g} days: "
                 f"{_fmt(result.auc_recency_rule)}); {horizon_days:g}-day revenue error "
                 f"{_fmt(result.revenue_error_model, '+.1%')} (last span repeated: "
                 f"{_fmt(result.revenue_error_baseline, '+.1%')})")
    except NotEnoughData as exc:
        evaluation = {"skipped": str(exc)}
        progress(f"evaluation skipped: {exc}")
    summary = summarise(orders, end_ms)
    progress(f"fitting BG/NBD and Gamma-Gamma on {len(summary.customers)} customers")
    model = fit_clv(summary)
    predicted = forecast(model, summary, horizon_days)
    run_at = as_utc(now)
    alerts: list[ChurnAlert] = []
    if alert_rule is not None:
        previous_horizon = latest_horizon(client, tenant)
        if previous_horizon is None:  # (no forecast to have crossed from)
            progress(f"the first run of tenant {tenant!r}: nothing to compare with, so this "
                     "run is the baseline (no churn triggers)")
        elif previous_horizon != float(horizon_days):
            # a risk is of no order within the horizon: another horizon's is another figure
            progress(f"the previous run forecast {previous_horizon:g} days, this one "
                     f"{horizon_days:g}: its churn risks are not comparable, so this run is the "
                     "new baseline (no churn triggers)")
        else:
            alerts = churn_alerts(client, tenant, orders, summary, predicted, alert_rule)
            progress(f"{len(alerts)} valuable customer(s) crossed churn risk "
                     f"{alert_rule.threshold:g} since the previous run")
    if before_write is not None:
        before_write(alerts, ms_to_datetime(end_ms))
    client.insert("prediction_runs", [[
        tenant, run_at, ms_to_datetime(end_ms), float(horizon_days), len(summary.customers),
        orjson.dumps(model.params()).decode(), orjson.dumps(evaluation).decode(),
    ]], column_names=["tenant", "run_at", "data_end", "horizon_days", "customers", "params",
                      "evaluation"])
    rows = [
        [tenant, customer, run_at, int(summary.frequency[i]), int(summary.recency[i]),
         int(summary.age[i]), float(predicted.p_alive[i]), float(predicted.expected_orders[i]),
         round_cents(Decimal(repr(float(predicted.expected_revenue[i])))),
         float(predicted.churn_risk[i])]
        for i, customer in enumerate(summary.customers)
    ]
    for start in range(0, len(rows), 50_000):
        client.insert("customer_predictions", rows[start:start + 50_000],
                      column_names=list(PREDICTION_COLUMNS))
    progress(f"wrote {len(rows)} customer forecasts")
    return TrainingResult(run_at, ms_to_datetime(end_ms), len(rows), model.params(), evaluation,
                          tuple(alerts))


def churn_alerts(client: Client, tenant: str, orders: list[Order], summary: Any, predicted: Any,
                 rule: ChurnAlertRule) -> list[ChurnAlert]:
    """The customers of this run whose risk crossed ``rule`` since the tenant's previous run."""
    previous = latest_predictions(client, tenant)
    last_order: dict[str, int] = {}
    for customer, at_ms, _ in orders:
        last_order[customer] = max(at_ms, last_order.get(customer, 0))
    alerts = []
    for i, customer in enumerate(summary.customers):
        before = previous.get(customer)
        risk, revenue = float(predicted.churn_risk[i]), float(summary.revenue[i])
        previous_risk = None if before is None else float(before[3])
        if rule.alerts(bool(previous), previous_risk, risk, revenue):
            alerts.append(ChurnAlert(
                customer, risk, previous_risk, float(predicted.p_alive[i]),
                float(predicted.expected_orders[i]),
                round_cents(Decimal(repr(float(predicted.expected_revenue[i])))),
                int(summary.orders[i]), round_cents(Decimal(repr(revenue))), last_order[customer]))
    return alerts


def latest_horizon(client: Client, tenant: str) -> float | None:
    """The horizon (days) of ``tenant``'s latest run; None before its first."""
    rows = client.query("SELECT horizon_days FROM prediction_runs WHERE tenant = {tenant:String} "
                        "ORDER BY run_at DESC LIMIT 1", parameters={"tenant": tenant}).result_rows
    return float(rows[0][0]) if rows else None


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def latest_run_query(tenant: str) -> str:
    """The latest run of ``tenant`` as one self-contained read-only query (it goes through
    ``shopstream sql``'s path, so through the worker when one owns the database)."""
    return ("SELECT run_at, data_end, horizon_days, customers, params, evaluation "
            f"FROM prediction_runs WHERE tenant = {sql_names(tenant)} ORDER BY run_at DESC LIMIT 1")


PREDICTIONS_SQL = """
SELECT user_key, p_alive, expected_orders, expected_revenue, churn_risk, run_at
FROM customer_predictions FINAL WHERE tenant = {tenant:String}
"""


def latest_predictions(client: Client, tenant: str) -> dict[str, tuple[Any, ...]]:
    """user_key -> (p_alive, expected orders, expected revenue, churn risk, run_at) from the
    latest run that forecast them."""
    rows = client.query(PREDICTIONS_SQL, parameters={"tenant": tenant}).result_rows
    return {str(r[0]): tuple(r[1:]) for r in rows}
