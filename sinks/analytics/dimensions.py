"""``report kpis --by device|country|source``: the kpis per value of an enrichment column.

The figures are the ``kpi_minute`` rollup's own (its materialized-view query, run over the
raw events of the range grouped by the dimension as well: no definition written twice),
merged into the report's buckets; sessions come from ``session_events`` (the session
rule), a session counted under each value its events carry. Values: ``device`` the device
type (desktop, mobile, tablet, bot), ``country`` the ISO code, ``source`` the source class
(search, social, email, paid, internal, referral, direct); ``(unknown)`` where the event
had none (sent without a user agent or address, or stored before enrichment). Bots are
left out unless included, as in every kpis report. New and returning users are not split
by dimension. Money is in the reporting currency (:mod:`sinks.analytics.currency`).
"""

from __future__ import annotations

from sinks.analytics.bots import human_only, kpi_rows_of_events
from sinks.analytics.currency import kpi_money

DIMENSIONS = {"device": "device_type", "country": "country", "source": "source_class"}
TIME_RANGE = "{c} >= {{start:DateTime64(3, 'UTC')}} AND {c} < {{end:DateTime64(3, 'UTC')}}"


def _value(column: str) -> str:
    return f"if(toString({column}) = '', '(unknown)', toString({column}))"


def kpis_by_sql(bucket_of: str, by: str, include_bots: bool) -> str:
    """The query: ``bucket_of`` formats a time column into the report's bucket
    (``GRAINS[grain]``); ``by`` one of :data:`DIMENSIONS`."""
    if by not in DIMENSIONS:
        raise ValueError(f"--by must be one of {', '.join(DIMENSIONS)}")
    column = DIMENSIONS[by]
    rows = kpi_rows_of_events("1" + human_only(include_bots, "e.is_bot"), _value(f"e.{column}"))
    minute = "toStartOfMinute(toDateTime(e.event_time, 'UTC'))"
    return f"""
    SELECT k.bucket AS bucket, k.dimension AS {by}, ifNull(s.sessions, 0) AS sessions, k.users AS users,
           page_views, product_views, adds, checkouts, orders, m.fx_revenue AS revenue, refunds,
           m.fx_refund_amount AS refund_amount, cancellations, m.fx_cancel_amount AS cancel_amount,
           revenue - refund_amount - cancel_amount AS net_revenue,
           toDecimal128(if(m.fx_orders > 0, round(revenue / m.fx_orders, 2), 0), 2) AS aov,
           if(ifNull(s.sessions, 0) > 0, round(orders / s.sessions, 4), 0) AS conversion_rate
    FROM (
        SELECT {bucket_of.format(c="k.minute")} AS bucket, k.dimension AS dimension,
               uniqExactMerge(k.users) AS users,
               sum(k.page_views) AS page_views, sum(k.product_views) AS product_views,
               sum(k.adds) AS adds, sum(k.checkouts) AS checkouts, sum(k.orders) AS orders,
               sum(k.revenue) AS revenue, sum(k.refunds) AS refunds,
               sum(k.refund_amount) AS refund_amount, sum(k.cancellations) AS cancellations,
               sum(k.cancel_amount) AS cancel_amount
        FROM ({rows}) AS k
        GROUP BY bucket, dimension
    ) AS k
    LEFT JOIN (
        SELECT {bucket_of.format(c=minute)} AS bucket, {_value("e." + column)} AS dimension,
               uniqExact(e.session_id) AS sessions
        FROM session_events AS e
        WHERE e.tenant = {{tenant:String}} AND {TIME_RANGE.format(c=minute)}
              {human_only(include_bots, "e.is_bot")}
        GROUP BY bucket, dimension
    ) AS s ON s.bucket = k.bucket AND s.dimension = k.dimension
    LEFT JOIN ({kpi_money(bucket_of, include_bots, _value(f"e.{column}"))}
    ) AS m ON m.bucket = k.bucket AND m.dimension = k.dimension
    ORDER BY bucket, revenue DESC, sessions DESC, {by}
    """
