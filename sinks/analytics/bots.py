"""Leaving bot traffic out of the reports (``is_bot``, from the validation stage's enrichment).

Reports leave bots out by default; ``ReportParams.include_bots`` puts them back. The
session reports filter the sessions (a session with any bot event is a bot's). The kpis
report reads the ``kpi_minute`` rollup, which counts every event, and subtracts the same
figures computed the same way (the rollup's own materialized-view query, so no definition
is written twice) over the bot events of the range: exact for every count and amount. A
shopper key is a bot's in a bucket when it sent a bot event there: it is not counted among
that bucket's users, nor among new users once it ever sent one.

The other daily rollups (``product_daily``, ``coupon_daily``) are read the same way: less
their own views' rows over the bot events (and the order lines of bot orders), a product or
coupon whose every figure came from bots left out (over a range off a rollup's grain,
:mod:`sinks.analytics.ranges` reads the views' rows of the range instead, and subtracts
their bot rows of the same range). Reports over raw tables AND in
:func:`human_only` (tables with ``is_bot``) or :func:`not_a_bot_event` (``order_items``,
through the line's order event).
"""

from __future__ import annotations

import re

from sinks.schema.rollups import (
    COUPON_DAILY_MV,
    KPI_MINUTE_MV,
    PRODUCT_DAILY_EVENTS_MV,
    PRODUCT_DAILY_ITEMS_MV,
)

KPI_FIGURES = ("users", "page_views", "product_views", "adds", "checkouts", "orders", "revenue",
               "refunds", "refund_amount", "cancellations", "cancel_amount")

_MV_QUERY = KPI_MINUTE_MV.split(" AS\n", 1)[1]  # "SELECT ... FROM events AS e GROUP BY ..."
_MINUTE = "toStartOfMinute(event_time) AS minute"
_EVENTS = "FROM events AS e\nGROUP BY tenant, minute"
if _EVENTS not in _MV_QUERY or _MINUTE not in _MV_QUERY:
    raise ValueError("kpi_minute_mv's query changed: update sinks/analytics/bots.py")


def kpi_rows_of_events(where: str, dimension: str | None = None) -> str:
    """kpi_minute's rows as its view would write them, of the tenant's events in the range
    that match ``where`` (SQL over ``e``); with ``dimension`` (an expression), one row per
    minute and value of it, in a column ``dimension``."""
    extra = f", {dimension} AS dimension" if dimension else ""
    minute = f"toDateTime(toStartOfMinute(event_time), 'UTC') AS minute{extra}"
    return _MV_QUERY.replace(_MINUTE, minute).replace(
        _EVENTS, f"FROM events AS e\nWHERE ({where}) AND e.tenant = {{tenant:String}}\n"
        "  AND e.event_time >= {start:DateTime64(3, 'UTC')} AND e.event_time < {end:DateTime64(3, 'UTC')}\n"
        f"GROUP BY tenant, minute{', dimension' if dimension else ''}")


BOT_KPI_ROWS = kpi_rows_of_events("e.is_bot = 1")


def without_bot_rows(figures: str, source: str, bot_source: str, key: str,
                     names: tuple[str, ...], include_bots: bool) -> str:
    """``figures`` (a query with ``source``, e.g. ``FROM product_daily``, once, giving
    ``key`` and the summed ``names``), less the same query over ``bot_source`` (the rollup's
    rows of bot events), unless ``include_bots``. A key with bot rows whose every figure
    came from bots is left out; a key without bot rows is as ``figures`` give it."""
    if include_bots:
        return figures
    if figures.count(source) != 1:
        raise ValueError(f"the figures must read {source!r} once")
    bots = figures.replace(source, bot_source)
    less = ", ".join(f"a.{name} - b.{name} AS {name}" for name in names)
    all_bots = " AND ".join(f"a.{name} = b.{name}" for name in names)
    return (f"SELECT a.{key} AS {key}, {less}\nFROM ({figures}) AS a\n"
            f"LEFT JOIN (SELECT *, 1 AS bot_rows FROM ({bots})) AS b ON b.{key} = a.{key}\n"
            f"WHERE NOT (b.bot_rows = 1 AND {all_bots})")


BOT_EVENT_IDS = "SELECT event_id FROM events WHERE tenant = {tenant:String} AND is_bot = 1"
_DAY_RANGE = ("toDateTime64(toDate(event_time), 3, 'UTC') >= {start:DateTime64(3, 'UTC')} AND "
              "toDateTime64(toDate(event_time), 3, 'UTC') < {end:DateTime64(3, 'UTC')}")
_EXACT_RANGE = ("event_time >= {start:DateTime64(3, 'UTC')} AND "
                "event_time < {end:DateTime64(3, 'UTC')}")


def view_rows(view: str, table: str, where: str, exact: bool = False) -> str:
    """The rows materialized view ``view`` writes for the tenant's rows of ``table`` (read
    by it once) that match ``where`` and fall on a day of the range (``exact``: in the
    range itself)."""
    query = view.split(" AS\n", 1)[1]
    pattern = rf"FROM {table}(?=\n| AS e\n)"
    if len(re.findall(pattern, query)) != 1:
        raise ValueError(f"a rollup view's query changed: update {__name__}")
    in_range = _EXACT_RANGE if exact else _DAY_RANGE
    rows = f"FROM (SELECT * FROM {table} WHERE tenant = {{tenant:String}} AND {in_range} AND {where})"
    return re.sub(pattern, lambda _: rows, query)


def product_rows(where_events: str, where_items: str, exact: bool = False) -> str:
    """``product_daily``'s rows as its two views write them, of the events and order lines
    that match (see :func:`view_rows`)."""
    return (f"{view_rows(PRODUCT_DAILY_EVENTS_MV, 'events', where_events, exact)}\nUNION ALL\n"
            f"{view_rows(PRODUCT_DAILY_ITEMS_MV, 'order_items', where_items, exact)}")


PRODUCT_FIGURES = ("views", "adds", "removes", "purchases", "units", "revenue",
                   "refunded_units", "refunded_revenue")
COUPON_FIGURES = ("applied", "denied", "removed", "orders")


def bot_product_rows(exact: bool = False) -> str:
    return product_rows("is_bot = 1", f"event_id IN ({BOT_EVENT_IDS})", exact)


def bot_coupon_rows(exact: bool = False) -> str:
    return view_rows(COUPON_DAILY_MV, "events", "is_bot = 1", exact)


def human_only(include_bots: bool, column: str = "is_bot") -> str:
    """A condition to AND into a query over events or sessions: no bots unless included."""
    return "" if include_bots else f" AND {column} = 0"


def not_a_bot_key(include_bots: bool) -> str:
    """A condition on ``user_key`` (AND it in): not a key that ever sent a bot event."""
    return "" if include_bots else (
        " AND user_key NOT IN (SELECT user_key FROM events WHERE tenant = {tenant:String}"
        " AND is_bot = 1)")


def not_a_bot_event(include_bots: bool, column: str = "event_id") -> str:
    """A condition (AND it in) over a table without ``is_bot`` whose rows name their event
    (``order_items``: the order event of the line): that event is not a bot's."""
    return "" if include_bots else f" AND {column} NOT IN ({BOT_EVENT_IDS})"
