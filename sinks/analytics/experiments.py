"""The experiments report's counts from ClickHouse, judged by :mod:`sinks.stats.ab_tests`.

A shopper (``user_key``) is exposed to an experiment at their first ``Experiment Viewed``
with its ``experiment_id`` in the report's range, in the variant (``variation_id``) seen then.
They convert when they complete an order at or after that exposure and before the range's
end; their revenue is the total of those orders.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from models.ecommerce import EventName as E
from models.money import round_cents
from sinks.schema import sql_names
from sinks.stats.ab_tests import ExperimentRules, VariantCounts, judge

RANGE = ("event_time >= {start:DateTime64(3, 'UTC')} AND event_time < {end:DateTime64(3, 'UTC')}"
         " AND tenant = {tenant:String}")

VARIANT_COUNTS_SQL = f"""
WITH exposures AS (
    SELECT user_key, JSONExtractString(properties, 'experiment_id') AS experiment_id,
           argMin(JSONExtractString(properties, 'variation_id'), event_time) AS variation_id,
           min(event_time) AS exposed_at
    FROM events
    WHERE event = {sql_names(E.EXPERIMENT_VIEWED)} AND {RANGE}
    GROUP BY user_key, experiment_id
    HAVING experiment_id != '' AND variation_id != ''
),
orders AS (
    SELECT user_key, event_time, revenue FROM events
    WHERE event = {sql_names(E.ORDER_COMPLETED)} AND {RANGE}
      AND user_key IN (SELECT user_key FROM exposures)
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


def variant_counts(client: Client, tenant: str, start: datetime,
                   end: datetime) -> dict[str, list[tuple[VariantCounts, Decimal]]]:
    """experiment_id -> its variants' counts, by variation id, each with its exact revenue."""
    rows = client.query(VARIANT_COUNTS_SQL, parameters={
        "tenant": tenant, "start": start, "end": end}).result_rows
    out: dict[str, list[tuple[VariantCounts, Decimal]]] = {}
    for experiment, variation, shoppers, conversions, revenue, revenue_var in rows:
        out.setdefault(experiment, []).append((VariantCounts(
            variation, int(shoppers), int(conversions), float(revenue), float(revenue_var)),
            Decimal(revenue)))
    return out


def experiment_rows(client: Client, tenant: str, start: datetime, end: datetime,
                    rules: ExperimentRules) -> list[list[Any]]:
    """The report's rows (:data:`COLUMNS`): every variant of every experiment, control first.
    Money columns are exact: revenue as summed, revenue per shopper in cents."""
    rows: list[list[Any]] = []
    for experiment, variants in variant_counts(client, tenant, start, end).items():
        exact = {counts.variation_id: revenue for counts, revenue in variants}
        judged = sorted(judge([counts for counts, _ in variants], rules),
                        key=lambda r: (not r["is_control"], r["variation_id"]))
        for record in judged:
            revenue = exact[record["variation_id"]]
            record["revenue"] = revenue
            record["revenue_per_shopper"] = round_cents(revenue / record["shoppers"])
            rows.append([experiment, *(record[c] for c in COLUMNS[1:])])
    return rows
