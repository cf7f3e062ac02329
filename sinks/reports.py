"""Analyst reports: SQL over the rollups and raw tables, plus pure scoring.

Every report is a function ``(client, ReportParams) -> Table`` so the CLI, the
worker's HTTP endpoint and the tests run exactly the same code. Per-customer figures are
per person (``user_key`` resolved through identify and alias links:
``sinks/schema/identity.py``). Definitions are
written out in the README ("Report definitions").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from models.ecommerce import EventName as E
from models.money import round_cents
from models.segments import customer_segment, quintile_scores, rfm_segment
from models.times import as_utc
from sinks.analytics import currency as fx
from sinks.analytics.automation import automation_sql, quality_sql
from sinks.analytics.bots import human_only, not_a_bot_event, not_a_bot_key
from sinks.analytics.dimensions import kpis_by_sql
from sinks.analytics.experiments import COLUMNS as EXPERIMENT_COLUMNS
from sinks.analytics.experiments import TYPES as EXPERIMENT_TYPES
from sinks.analytics.experiments import experiment_rows
from sinks.analytics.prediction import latest_predictions
from sinks.analytics.ranges import coupon_figures, kpi_figures, product_figures
from sinks.report_types import (
    ALL_ROWS,
    GRAINS,
    TIME_RANGE,
    ReportParams,
    Table,
    grain_of,
    kinds_of_types,
    query_table,
)
from sinks.schema import FUNNEL_COUNTS, sql_names
from sinks.schema.identity import resolved


def _query(client: Client, sql: str, params: ReportParams, **extra: Any) -> Table:
    return query_table(client, sql, {**params.bounds(), **extra})


def kpis(client: Client, p: ReportParams) -> Table:
    grain = grain_of(p, "day")
    if p.by:
        return _query(client, kpis_by_sql(GRAINS[grain], p.by, p.include_bots), p)
    first_bucket = GRAINS[grain].format(c="first_seen")
    # sessions (models/funnel.py) are computed from events, bucketed by the minute of each
    # event as the rollup's minutes are
    minute = "toStartOfMinute(toDateTime(e.event_time, 'UTC'))"
    session_bucket = GRAINS[grain].format(c=minute)
    sql = f"""
    SELECT
        k.bucket AS bucket, ifNull(s.sessions, 0) AS sessions, users,
        ifNull(n.new_users, 0) AS new_users, users - ifNull(n.new_users, 0) AS returning_users,
        page_views, product_views, adds, checkouts, orders,
        m.fx_revenue AS revenue, refunds, m.fx_refund_amount AS refund_amount, cancellations,
        m.fx_cancel_amount AS cancel_amount, revenue - refund_amount - cancel_amount AS net_revenue,
        toDecimal128(if(m.fx_orders > 0, round(revenue / m.fx_orders, 2), 0), 2) AS aov,
        if(ifNull(s.sessions, 0) > 0, round(orders / s.sessions, 4), 0) AS conversion_rate
    FROM ({kpi_figures(p, GRAINS[grain])}
    ) AS k
    LEFT JOIN (
        SELECT {session_bucket} AS bucket, uniqExact(e.session_id) AS sessions
        FROM session_events AS e
        WHERE e.tenant = {{tenant:String}} AND {TIME_RANGE.format(c="e.event_time")}
              {human_only(p.include_bots, "e.is_bot")}
        GROUP BY bucket
    ) AS s ON s.bucket = k.bucket
    LEFT JOIN (
        SELECT {first_bucket} AS bucket, count() AS new_users
        FROM (SELECT user_key, min(first_seen) AS first_seen FROM users_first_seen
              WHERE tenant = {{tenant:String}}{not_a_bot_key(p.include_bots)} GROUP BY user_key)
        WHERE {TIME_RANGE.format(c="first_seen")}
        GROUP BY bucket
    ) AS n ON n.bucket = k.bucket
    LEFT JOIN ({fx.kpi_money(GRAINS[grain], p.include_bots)}) AS m ON m.bucket = k.bucket
    ORDER BY bucket
    """
    return _query(client, sql, p)


def funnel(client: Client, p: ReportParams) -> Table:
    """Per bucket of the sessions' start; the first column is named after the grain."""
    grain = grain_of(p, "day")
    sql = f"""
    SELECT {grain}, visit, product_view, add_to_cart, checkout, purchase,
           if(visit > 0, round(product_view / visit, 4), 0) AS view_rate,
           if(product_view > 0, round(add_to_cart / product_view, 4), 0) AS cart_rate,
           if(add_to_cart > 0, round(checkout / add_to_cart, 4), 0) AS checkout_rate,
           if(checkout > 0, round(purchase / checkout, 4), 0) AS purchase_rate,
           if(visit > 0, round(purchase / visit, 4), 0) AS conversion_rate
    FROM (
        SELECT {GRAINS[grain].format(c="started_at")} AS {grain}, {FUNNEL_COUNTS}
        FROM session_summary
        WHERE tenant = {{tenant:String}} AND {TIME_RANGE.format(c="started_at")}{human_only(p.include_bots)}
        GROUP BY {grain}
    )
    ORDER BY {grain}
    """
    return _query(client, sql, p)


def products(client: Client, p: ReportParams) -> Table:
    daily = product_figures(p)
    sql = f"""
    SELECT d.product_id AS product_id, views, adds, removes, purchases, units,
           m.fx_revenue AS revenue, refunded_units, m.fx_refunded_revenue AS refunded_revenue,
           revenue - refunded_revenue AS net_revenue,
           if(views > 0, round(adds / views, 4), 0) AS view_to_cart_rate,
           if(adds > 0, round(purchases / adds, 4), 0) AS cart_to_purchase_rate
    FROM ({daily}
    ) AS d LEFT JOIN ({fx.product_money(not_a_bot_event(p.include_bots))}) AS m
        ON m.product_id = d.product_id
    ORDER BY net_revenue DESC, views DESC, product_id
    LIMIT {{limit:UInt32}}
    """
    return _query(client, sql, p, limit=p.limit or ALL_ROWS)


def attribution(client: Client, p: ReportParams) -> Table:
    sql = f"""
    SELECT
        if(c.1 = '', '(direct)', c.1) AS source,
        if(c.2 = '', '(none)', c.2) AS medium,
        if(c.3 = '', '(none)', c.3) AS campaign,
        count() AS sessions,
        countIf(orders > 0) AS conversions,
        round(conversions / sessions, 4) AS conversion_rate,
        sum(ifNull(m.fx_revenue, 0)) AS revenue
    FROM (
        SELECT session_id, campaign AS c, orders FROM session_summary
        WHERE tenant = {{tenant:String}} AND {TIME_RANGE.format(c="started_at")}{human_only(p.include_bots)}
    ) AS s LEFT JOIN ({fx.session_money()}) AS m ON m.session_id = s.session_id
    GROUP BY source, medium, campaign
    ORDER BY revenue DESC, sessions DESC, source, medium, campaign
    """
    return _query(client, sql, p)


def coupons(client: Client, p: ReportParams) -> Table:
    daily = coupon_figures(p)
    sql = f"""
    SELECT c.coupon AS coupon, applied, denied, removed, orders, m.fx_discount AS discount,
           m.fx_revenue AS revenue
    FROM ({daily}) AS c
    LEFT JOIN ({fx.coupon_money(human_only(p.include_bots))}) AS m ON m.coupon = c.coupon
    ORDER BY orders DESC, applied DESC, coupon
    """
    return _query(client, sql, p)


def _order_figures(p: ReportParams) -> str:
    """Per customer (person) with a completed order in the range: orders and net revenue;
    ``converted_orders``, those whose amounts are in it (orders without an exchange rate
    are in no money figure)."""
    return f"""
    SELECT user_key,
           uniqExactIf(order_id, event = {sql_names(E.ORDER_COMPLETED)}) AS completed,
           uniqExactIf(order_id, event = {sql_names(E.ORDER_CANCELLED)}) AS cancelled,
           uniqExactIf(order_id, event = {sql_names(E.ORDER_COMPLETED)} AND fx_missing = 0)
             - uniqExactIf(order_id, event = {sql_names(E.ORDER_CANCELLED)} AND fx_missing = 0)
             AS converted_orders,
           minIf(event_time, event = {sql_names(E.ORDER_COMPLETED)}) AS first_order,
           maxIf(event_time, event = {sql_names(E.ORDER_COMPLETED)}) AS last_order,
           sumIf(revenue, event = {sql_names(E.ORDER_COMPLETED)})
             - sumIf(revenue, event IN ({sql_names(E.ORDER_REFUNDED, E.ORDER_CANCELLED)})) AS net_revenue
    FROM ({resolved(fx.converted_orders("1" + human_only(p.include_bots)))})
    GROUP BY user_key
    HAVING completed > 0
"""


def _as_of(client: Client, p: ReportParams) -> datetime:
    if p.as_of is not None:
        return p.as_of
    latest = client.query("SELECT max(event_time) FROM events WHERE tenant = {tenant:String}"
                          + human_only(p.include_bots),
                          parameters={"tenant": p.tenant}).result_rows[0][0]
    if latest is None:
        return datetime.now(UTC)
    return latest if latest.tzinfo else latest.replace(tzinfo=UTC)


def rfm(client: Client, p: ReportParams) -> Table:
    as_of = _as_of(client, p)
    rows = _query(client, _order_figures(p) + " ORDER BY user_key", p).records()
    recency = [max(0, (as_of - as_utc(r["last_order"])) // timedelta(days=1)) for r in rows]
    frequency = [r["completed"] - r["cancelled"] for r in rows]
    monetary = [r["net_revenue"] for r in rows]
    r_scores = quintile_scores(recency, higher_is_better=False)
    f_scores = quintile_scores(frequency)
    m_scores = quintile_scores(monetary)
    out = [
        [r["user_key"], rec, freq, mon, rs, fs, ms, rfm_segment(rs, fs, ms)]
        for r, rec, freq, mon, rs, fs, ms in zip(
            rows, recency, frequency, monetary, r_scores, f_scores, m_scores, strict=True)
    ]
    out.sort(key=lambda row: (-row[4] - row[5] - row[6], row[0]))
    return Table(["user_id", "recency_days", "frequency", "monetary", "r_score", "f_score",
                  "m_score", "segment"], out, kinds=list(RFM_KINDS))


# the column types of the reports computed here, as ClickHouse would name them (Parquet: an
# empty one is typed as a full one); money as _order_figures sums it, aov in cents
RFM_KINDS = kinds_of_types(["String", "Int64", "Int64", "Decimal(38, 4)"] + ["UInt8"] * 3 + ["String"])
CUSTOMER_KINDS = kinds_of_types([
    "String", "Int64", "Decimal(38, 4)", "Decimal(38, 2)", "Nullable(Float64)",
    "DateTime64(3, 'UTC')", "DateTime64(3, 'UTC')", "UInt64", "String",
    "Nullable(Float64)", "Nullable(Float64)", "Nullable(Decimal(18, 4))", "Nullable(Float64)"])


COHORT_PERIODS = {"day": "dateDiff('day', {a}, {b})", "week": "intDiv(dateDiff('day', {a}, {b}), 7)",
                  "month": "dateDiff('month', {a}, {b})"}


def cohorts(client: Client, p: ReportParams) -> Table:
    """Cohorts by the grain (default month) of the first order; ``<grain>s_since``."""
    grain = grain_of(p, "month", tuple(COHORT_PERIODS))
    bucket = GRAINS[grain]
    since = COHORT_PERIODS[grain].format(a="f.cohort", b=bucket.format(c="e.event_time"))
    sql = f"""
    WITH firsts AS (
        SELECT user_key, {bucket.format(c="min(event_time)")} AS cohort FROM resolved_events
        WHERE tenant = {{tenant:String}} AND event = {sql_names(E.ORDER_COMPLETED)}
              {human_only(p.include_bots)}
        GROUP BY user_key
    ),
    sizes AS (SELECT cohort, count() AS size FROM firsts GROUP BY cohort),
    activity AS (
        SELECT f.cohort AS cohort,
               {since} AS {grain}s_since,
               uniqExact(e.user_key) AS customers
        FROM resolved_events AS e INNER JOIN firsts AS f ON f.user_key = e.user_key
        WHERE e.tenant = {{tenant:String}} AND e.event = {sql_names(E.ORDER_COMPLETED)}
              {human_only(p.include_bots, "e.is_bot")}
        GROUP BY cohort, {grain}s_since
    )
    SELECT a.cohort AS cohort, a.{grain}s_since AS {grain}s_since, a.customers AS customers,
           s.size AS cohort_size, round(a.customers / s.size, 4) AS retention_rate
    FROM activity AS a INNER JOIN sizes AS s ON s.cohort = a.cohort
    WHERE {TIME_RANGE.format(c="toDateTime64(a.cohort, 3, 'UTC')")}
    ORDER BY cohort, {grain}s_since
    """
    return _query(client, sql, p)


def affinity(client: Client, p: ReportParams) -> Table:
    sql = f"""
    WITH baskets AS (
        SELECT order_id, arraySort(groupUniqArray(product_id)) AS products
        FROM order_items
        WHERE tenant = {{tenant:String}} AND sign > 0 AND {TIME_RANGE.format(c="event_time")}
              {not_a_bot_event(p.include_bots)}
        GROUP BY order_id
    ),
    total AS (SELECT count() AS n FROM baskets),
    single AS (SELECT arrayJoin(products) AS product, count() AS c FROM baskets GROUP BY product),
    pairs AS (
        SELECT pair.1 AS a, pair.2 AS b, count() AS ab
        FROM baskets
        ARRAY JOIN arrayFilter(x -> x.1 < x.2,
                   arrayFlatten(arrayMap(x -> arrayMap(y -> (x, y), products), products))) AS pair
        GROUP BY a, b
    )
    SELECT pairs.a AS product_a, pairs.b AS product_b, pairs.ab AS orders_together,
           round(pairs.ab / total.n, 6) AS support,
           round(pairs.ab / sa.c, 6) AS confidence_a_to_b,
           round(pairs.ab / sb.c, 6) AS confidence_b_to_a,
           round(pairs.ab * total.n / (sa.c * sb.c), 6) AS lift
    FROM pairs
    INNER JOIN single AS sa ON sa.product = pairs.a
    INNER JOIN single AS sb ON sb.product = pairs.b
    CROSS JOIN total
    WHERE pairs.ab / total.n >= {{min_support:Float64}}
    ORDER BY lift DESC, orders_together DESC, product_a, product_b
    LIMIT {{limit:UInt32}}
    """
    return _query(client, sql, p, min_support=p.min_support, limit=p.limit or ALL_ROWS)


def customers(client: Client, p: ReportParams) -> Table:
    figures = _query(client, _order_figures(p), p).records()
    distinct: dict[str, int] = dict(client.query(  # type: ignore[arg-type]  # rows are pairs
        f"""SELECT user_key, uniqExact(product_id) FROM resolved_order_items
        WHERE tenant = {{tenant:String}} AND sign > 0 AND {TIME_RANGE.format(c="event_time")}
              {not_a_bot_event(p.include_bots)}
        GROUP BY user_key""", parameters=p.bounds()).result_rows)
    forecasts = latest_predictions(client, p.tenant)
    out = []
    for r in figures:
        orders = r["completed"] - r["cancelled"]
        revenue = r["net_revenue"]
        first, last = as_utc(r["first_order"]), as_utc(r["last_order"])
        gap = ((last - first) / timedelta(days=1) / (r["completed"] - 1)
               if r["completed"] > 1 else None)
        converted = r["converted_orders"]
        aov = round_cents(revenue / converted) if converted > 0 else Decimal("0.00")
        out.append([r["user_key"], orders, revenue, aov,
                    None if gap is None else round(gap, 2), first, last,
                    distinct.get(r["user_key"], 0),
                    customer_segment(orders, revenue, gap, p.segment_rules),
                    *_forecast_cells(forecasts.get(r["user_key"]))])
    out.sort(key=lambda row: (-row[2], row[0]))
    return Table(["user_id", "orders", "revenue", "aov", "mean_days_between_orders",
                  "first_order", "last_order", "distinct_products", "segment",
                  "p_alive", "expected_orders", "expected_revenue", "churn_risk"],
                 out[: p.limit] if p.limit else out, kinds=list(CUSTOMER_KINDS))


def _forecast_cells(forecast: tuple[Any, ...] | None) -> list[Any]:
    """p_alive, expected orders, expected revenue, churn risk; empty before a prediction run."""
    if forecast is None:
        return [None] * 4
    p_alive, orders, revenue, churn = forecast[:4]
    return [round(p_alive, 4), round(orders, 2), revenue, round(churn, 4)]


def experiments(client: Client, p: ReportParams) -> Table:
    return Table(list(EXPERIMENT_COLUMNS), experiment_rows(client, p.bounds(), p.experiment_rules,
                                                         p.include_bots),
                 kinds=kinds_of_types(EXPERIMENT_TYPES))


def automation(client: Client, p: ReportParams) -> Table:
    """Per bucket (default day) of the trigger's time and type: sent, converted, orders,
    revenue, median minutes (``sinks/analytics/automation.py`` defines each)."""
    grain = grain_of(p, "day")
    return _query(client, automation_sql(GRAINS[grain], grain, p.include_bots), p,
                  window_ms=int(p.followup_days * 86_400_000))


def quality(client: Client, p: ReportParams) -> Table:
    """Per bucket (default day) of arrival: dead letters by code, late events, duplicates;
    their rate."""
    grain = grain_of(p, "day")
    return _query(client, quality_sql(GRAINS[grain], grain), p,
                  lateness_ms=int(p.lateness_s * 1000))


REPORTS: dict[str, Callable[[Client, ReportParams], Table]] = {
    "kpis": kpis,
    "funnel": funnel,
    "products": products,
    "attribution": attribution,
    "coupons": coupons,
    "rfm": rfm,
    "cohorts": cohorts,
    "affinity": affinity,
    "customers": customers,
    "experiments": experiments,
    "automation": automation,
    "quality": quality,
}


def run_report(client: Client, name: str, params: ReportParams) -> Table:
    if name not in REPORTS:
        raise KeyError(f"unknown report {name!r}; choose from {', '.join(REPORTS)}")
    table = REPORTS[name](client, params)
    table.unconverted = fx.unconverted_amounts(client, params.bounds()) if name in fx.CONVERTED else {}
    return table

