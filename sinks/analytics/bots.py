"""Leaving bot traffic out of the reports (``is_bot``, from the validation stage's enrichment).

Reports leave bots out by default; ``ReportParams.include_bots`` puts them back. The
session reports filter the sessions (a session with any bot event is a bot's). The kpis
report reads the ``kpi_minute`` rollup, which counts every event, and subtracts the same
figures computed the same way (the rollup's own materialized-view query, so no definition
is written twice) over the bot events of the range: exact for every count and amount. A
shopper key is a bot's in a bucket when it sent a bot event there: it is not counted among
that bucket's users, nor among new users once it ever sent one.
"""

from __future__ import annotations

from sinks.schema.rollups import KPI_MINUTE_MV

KPI_FIGURES = ("users", "page_views", "product_views", "adds", "checkouts", "orders", "revenue",
               "refunds", "refund_amount", "cancellations", "cancel_amount")
ROLLUP = "FROM kpi_minute AS k"

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


def without_bot_figures(figures: str, include_bots: bool) -> str:
    """``figures`` (a query reading ``FROM kpi_minute AS k`` that gives ``bucket`` and
    :data:`KPI_FIGURES`), less the same figures of bot events unless ``include_bots``."""
    if include_bots:
        return figures
    if figures.count(ROLLUP) != 1:
        raise ValueError(f"the figures must read {ROLLUP!r} once")
    bots = figures.replace(ROLLUP, f"FROM ({BOT_KPI_ROWS}) AS k")
    less = ", ".join(f"a.{name} - b.{name} AS {name}" for name in KPI_FIGURES)
    return (f"SELECT a.bucket AS bucket, {less}\nFROM ({figures}) AS a\n"
            f"LEFT JOIN ({bots}) AS b ON b.bucket = a.bucket")


def human_only(include_bots: bool, column: str = "is_bot") -> str:
    """A condition to AND into a query over events or sessions: no bots unless included."""
    return "" if include_bots else f" AND {column} = 0"


def not_a_bot_key(include_bots: bool) -> str:
    """A condition on ``user_key`` (AND it in): not a key that ever sent a bot event."""
    return "" if include_bots else (
        " AND user_key NOT IN (SELECT user_key FROM events WHERE tenant = {tenant:String}"
        " AND is_bot = 1)")
