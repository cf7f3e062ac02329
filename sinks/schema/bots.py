"""Migration 14: the ready-made ``kpi_hourly`` and ``kpi_daily`` views leave bots out.

``kpi_minute`` (kept by ``kpi_minute_mv`` since migration 2) counts every event, bots' too,
and stays as it is: rows already written cannot be split by a new key, and a released
view never changes. Neither a bot key in the rollup nor a second, bot-free materialized
view is used: both would start empty, and filling them from ``events`` in a migration
races with the sink's inserts (and has no cluster form). Instead the views subtract, per
tenant and bucket, the same figures computed by ``kpi_minute_mv``'s own query over the bot
events (``is_bot = 1``) of ``events``, as ``report kpis`` does (:mod:`sinks.analytics.bots`):
exact for every count and amount; a shopper key is not counted among a bucket's users when
it sent a bot event there. Sessions are counted over the events of people only. The
figures with bots stay readable in ``kpi_hourly_with_bots`` and ``kpi_daily_with_bots``.
"""

from __future__ import annotations

from sinks.schema.rollups import KPI_MINUTE_MV
from sinks.schema.sessions import KPI_GRAINS, kpi_sessions_view

FIGURES = ("users", "events", "page_views", "product_views", "adds", "checkouts", "orders",
           "revenue", "refunds", "refund_amount", "cancellations", "cancel_amount")
_SUMS = {"users": "uniqExactMerge(k.users)", "events": "sum(k.event_count)"}
_ALL_EVENTS = "FROM events AS e\nGROUP BY tenant, minute"
if KPI_MINUTE_MV.count(_ALL_EVENTS) != 1:
    raise ValueError("kpi_minute_mv's query changed: update sinks/schema/bots.py")
# kpi_minute's rows as its view writes them, of the bot events only
BOT_KPI_MINUTES = KPI_MINUTE_MV.split(" AS\n", 1)[1].replace(
    _ALL_EVENTS, "FROM events AS e\nWHERE e.is_bot = 1\nGROUP BY tenant, minute")


def _figures(source: str, bucket: str) -> str:
    sums = ",\n        ".join(f"{_SUMS.get(name, f'sum(k.{name})')} AS {name}" for name in FIGURES)
    return f"""SELECT k.tenant AS tenant, {bucket} AS bucket,
        {sums}
    FROM {source} AS k
    GROUP BY tenant, bucket"""


def kpi_view_without_bots(grain: str) -> str:
    """``kpi_<grain>`` (hourly, daily) over people's events only."""
    bucket = KPI_GRAINS[grain]
    less = ",\n    ".join(f"a.{name} - b.{name} AS {name}" for name in FIGURES)
    return f"""
CREATE OR REPLACE VIEW kpi_{grain} AS
SELECT
    a.tenant AS tenant, a.bucket AS bucket, ifNull(s.sessions, 0) AS sessions,
    {less},
    a.revenue - b.revenue - (a.refund_amount - b.refund_amount)
        - (a.cancel_amount - b.cancel_amount) AS net_revenue
FROM ({_figures("kpi_minute", bucket.format(c="k.minute"))}) AS a
LEFT JOIN ({_figures(f"({BOT_KPI_MINUTES})", bucket.format(c="k.minute"))}) AS b
    ON b.tenant = a.tenant AND b.bucket = a.bucket
LEFT JOIN (
    SELECT e.tenant AS tenant, {bucket.format(c="toDateTime(e.event_time, 'UTC')")} AS bucket,
           uniqExact(e.session_id) AS sessions
    FROM session_events AS e
    WHERE e.is_bot = 0
    GROUP BY tenant, bucket
) AS s ON s.tenant = a.tenant AND s.bucket = a.bucket
"""


def kpi_view_with_bots(grain: str) -> str:
    """``kpi_<grain>_with_bots``: the figures of every event, as ``kpi_<grain>`` was before."""
    old = f"CREATE OR REPLACE VIEW kpi_{grain} AS"
    statement = kpi_sessions_view(grain)
    if statement.count(old) != 1:
        raise ValueError("migration 6's kpi view changed: update sinks/schema/bots.py")
    return statement.replace(old, f"CREATE OR REPLACE VIEW kpi_{grain}_with_bots AS")


BOT_STATEMENTS = tuple(statement for grain in ("hourly", "daily")
                       for statement in (kpi_view_with_bots(grain), kpi_view_without_bots(grain)))
