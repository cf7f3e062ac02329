"""The experiments report's counts from ClickHouse, judged by :mod:`sinks.stats.ab_tests`.

A shopper (``user_key``) is exposed to an experiment at their first ``Experiment Viewed``
with its ``experiment_id`` in the report's range, in the variant (``variation_id``) seen then.
They convert when they complete an order at or after that exposure and before the range's
end; their revenue is the total of those orders, in the reporting currency
(:mod:`sinks.analytics.currency`; an order without a rate adds nothing to it). Bots'
exposures and orders are left out unless included (:mod:`sinks.analytics.bots`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from models.ecommerce import EventName as E
from models.money import round_cents
from sinks.analytics.bots import human_only
from sinks.analytics.currency import converted
from sinks.schema import sql_names
from sinks.stats.ab_tests import ExperimentRules, VariantCounts, judge

RANGE = ("event_time >= {start:DateTime64(3, 'UTC')} AND event_time < {end:DateTime64(3, 'UTC')}"
         " AND tenant = {tenant:String}")


def variant_counts_sql(include_bots: bool) -> str:
    """Per experiment and variant: shoppers, conversions, revenue and its variance."""
    people = human_only(include_bots)
    # the range's completed orders, their revenue in the reporting currency
    completed = converted("events", ("revenue",),
                          f"event = {sql_names(E.ORDER_COMPLETED)} AND {RANGE}{people}")
    return f"""
WITH exposures AS (
    SELECT user_key, JSONExtractString(properties, 'experiment_id') AS experiment_id,
           argMin(JSONExtractString(properties, 'variation_id'), event_time) AS variation_id,
           min(event_time) AS exposed_at
    FROM events
    WHERE event = {sql_names(E.EXPERIMENT_VIEWED)} AND {RANGE}{people}
    GROUP BY user_key, experiment_id
    HAVING experiment_id != '' AND variation_id != ''
),
orders AS (
    SELECT user_key, event_time, revenue FROM ({completed})
    WHERE user_key IN (SELECT user_key FROM exposures)
),
shoppers AS (
    SELECT x.experiment_id AS experiment_id, x.variation_id AS variation_id, x.user_key,
           countIf(o.event_time >= x.exposed_at) > 0 AS converted,
           sumIf(toDecimal128(o.revenue, 4), o.event_time >= x.exposed_at) AS shopper_revenue
    FROM exposures AS x LEFT JOIN orders AS o ON o.user_key = x.user_key
    GROUP BY experiment_id, variation_id, x.user_key
)
SELECT experiment_id, variation_id, count() AS shoppers, countIf(converted) AS conversions,
       sum(shopper_revenue) AS revenue,
       ifNotFinite(varSamp(toFloat64(shopper_revenue)), 0) AS revenue_var
FROM shoppers
GROUP BY experiment_id, variation_id
ORDER BY experiment_id, variation_id
"""


COLUMNS = ["experiment_id", "variation_id", "is_control", "shoppers", "conversions",
           "conversion_rate", "revenue", "revenue_per_shopper", "conversion_lift",
           "conversion_lift_ci_low", "conversion_lift_ci_high", "conversion_p_value",
           "revenue_lift", "revenue_lift_ci_low", "revenue_lift_ci_high", "revenue_p_value",
           "required_shoppers", "srm_p_value", "decision", "winner"]
# each column's type as ClickHouse would name it (the report is computed here: an empty one
# is typed by these, as a full one is): money as the query sums it, revenue per shopper in cents
TYPES = ["String", "String", "Bool", "UInt64", "UInt64", "Float64", "Decimal(38, 4)",
         "Decimal(38, 2)", "Float64", "Float64", "Float64", "Float64", "Float64", "Float64",
         "Float64", "Float64", "Nullable(UInt64)", "Float64", "String", "Bool"]


def variant_counts(client: Client, bounds: dict[str, Any], include_bots: bool = False
                   ) -> dict[str, list[tuple[VariantCounts, Decimal]]]:
    """experiment_id -> its variants' counts, by variation id, each with its exact revenue.
    ``bounds``: tenant, start, end, reporting and fx_base (``ReportParams.bounds()``)."""
    rows = client.query(variant_counts_sql(include_bots), parameters=bounds).result_rows
    out: dict[str, list[tuple[VariantCounts, Decimal]]] = {}
    for experiment, variation, shoppers, conversions, revenue, revenue_var in rows:
        out.setdefault(experiment, []).append((VariantCounts(
            variation, int(shoppers), int(conversions), float(revenue), float(revenue_var)),
            Decimal(revenue)))
    return out


def experiment_rows(client: Client, bounds: dict[str, Any], rules: ExperimentRules,
                    include_bots: bool = False) -> list[list[Any]]:
    """The report's rows (:data:`COLUMNS`): every variant of every experiment, control first.
    Money columns are exact: revenue as summed, revenue per shopper in cents."""
    rows: list[list[Any]] = []
    for experiment, variants in variant_counts(client, bounds, include_bots).items():
        exact = {counts.variation_id: revenue for counts, revenue in variants}
        judged = sorted(judge([counts for counts, _ in variants], rules),
                        key=lambda r: (not r["is_control"], r["variation_id"]))
        for record in judged:
            revenue = exact[record["variation_id"]]
            record["revenue"] = revenue
            record["revenue_per_shopper"] = round_cents(revenue / record["shoppers"])
            rows.append([experiment, *(record[c] for c in COLUMNS[1:])])
    return rows
