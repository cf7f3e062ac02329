"""The rollups read over a report's range, exactly.

The rollups keep a row per minute (``kpi_minute``) or per day (``product_daily``,
``coupon_daily``) of event time. A range whose ends fall on that grain reads them. Any other
range (``--from 2026-05-02T08:00:00Z`` of a daily rollup, ``08:08:15`` of the minute one)
reads instead the rows the rollup's own materialized views would write for the raw rows of
the exact range (the views' queries, so no definition is written twice): a scan of the
range rather than the rollup, and the same events as the money figures, which always come
from the exact range. Bots are left out the same way either way
(:func:`sinks.analytics.bots.without_bot_rows`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from models.times import as_utc
from sinks.analytics.bots import (
    BOT_KPI_ROWS,
    COUPON_FIGURES,
    KPI_FIGURES,
    PRODUCT_FIGURES,
    bot_coupon_rows,
    bot_product_rows,
    kpi_rows_of_events,
    product_rows,
    view_rows,
    without_bot_rows,
)
from sinks.report_types import TIME_RANGE, ReportParams
from sinks.schema.rollups import COUPON_DAILY_MV

_DAY = TIME_RANGE.format(c="toDateTime64(day, 3, 'UTC')")


def on_grain(p: ReportParams, grain: str) -> bool:
    """Whether both ends of the range (an open end always) fall on a ``minute`` or a
    ``day`` (UTC midnight)."""
    def aligned(at: datetime | None) -> bool:
        if at is None:
            return True
        at = as_utc(at)
        rest = (at.second, at.microsecond) if grain == "minute" else (
            at.hour, at.minute, at.second, at.microsecond)
        return not any(rest)
    return aligned(p.start) and aligned(p.end)


def _sums(names: tuple[str, ...]) -> str:
    return ", ".join(f"sum({name}) AS {name}" for name in names)


def _daily_figures(p: ReportParams, table: str, key: str, names: tuple[str, ...],
                   rows: Callable[[], str], bot_rows: Callable[[bool], str]) -> str:
    """Per ``key`` of the range: ``names`` summed from the daily rollup ``table`` (between
    midnights) or from ``rows()``, its views' rows of the range's raw rows; less the bots'
    (``bot_rows(exact)``) unless included."""
    if on_grain(p, "day"):
        source, where, exact = f"FROM {table}\n", f"WHERE tenant = {{tenant:String}} AND {_DAY}\n", False
    else:
        source, where, exact = f"FROM ({rows()})\n", "", True
    figures = f"SELECT {key}, {_sums(names)}\n{source}{where}GROUP BY {key}"
    return without_bot_rows(figures, source, f"FROM ({bot_rows(exact)})\n", key, names,
                            p.include_bots)


def product_figures(p: ReportParams) -> str:
    """Per product of the range: :data:`PRODUCT_FIGURES` (without bots unless included)."""
    return _daily_figures(p, "product_daily", "product_id", PRODUCT_FIGURES,
                          lambda: product_rows("1", "1", exact=True), bot_product_rows)


def coupon_figures(p: ReportParams) -> str:
    """Per coupon of the range: :data:`COUPON_FIGURES` (without bots unless included)."""
    return _daily_figures(p, "coupon_daily", "coupon", COUPON_FIGURES,
                          lambda: view_rows(COUPON_DAILY_MV, "events", "1", exact=True),
                          bot_coupon_rows)


def kpi_figures(p: ReportParams, bucket_of: str) -> str:
    """Per bucket (``bucket_of`` formats the minute column ``{c}``): :data:`KPI_FIGURES`
    (``users`` merged from the minutes' states; without bots unless included)."""
    if on_grain(p, "minute"):
        source = "FROM kpi_minute AS k\n"
        where = f"WHERE k.tenant = {{tenant:String}} AND {TIME_RANGE.format(c='k.minute')}\n"
    else:
        source, where = f"FROM ({kpi_rows_of_events('1')}) AS k\n", ""
    figures = f"""
        SELECT {bucket_of.format(c="k.minute")} AS bucket, uniqExactMerge(k.users) AS users,
               sum(k.page_views) AS page_views, sum(k.product_views) AS product_views,
               sum(k.adds) AS adds, sum(k.checkouts) AS checkouts, sum(k.orders) AS orders,
               sum(k.revenue) AS revenue, sum(k.refunds) AS refunds,
               sum(k.refund_amount) AS refund_amount, sum(k.cancellations) AS cancellations,
               sum(k.cancel_amount) AS cancel_amount
        {source}{where}GROUP BY bucket"""
    bots = f"FROM ({BOT_KPI_ROWS}) AS k\n"  # (the exact range, as the money's)
    return without_bot_rows(figures, source, bots, "bucket", KPI_FIGURES, p.include_bots)
