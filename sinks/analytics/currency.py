"""Money in the reporting currency: the one SQL conversion every report's money goes through.

:func:`converted` wraps a raw table (``events``, ``order_items``) in a subquery with the same
columns, its amount columns in the tenant's reporting currency (query parameter
``reporting``) at the rate of each row's UTC date (``fx_rates``, the latest rate dated on or
before it; ``fx_base`` has rate 1), by the rules of :mod:`models.currency`: the same
currency or none is kept as is; otherwise ``amount * rate(from) / rate(to)`` rounded to
cents, half away from zero. A row whose currency has no rate keeps 0 in its amounts, is
flagged ``fx_missing = 1``, and keeps what was sent in ``fx_<amount>``: reports list those
apart (:func:`unconverted_amounts`), never add them in.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from models.ecommerce import EventName as E
from sinks.schema.rollups import COUPON_DAILY_MV, PRODUCT_DAILY_ITEMS_MV
from sinks.schema.types import sql_names

# the rates twice, their columns named apart (the joins would otherwise rename the row's own)
_RATES = "(SELECT currency AS fx_{side}, date AS fx_{side}_date, rate AS fx_{side}_rate FROM fx_rates FINAL)"
_ONE = "toDecimal128(1, 10)"
_FROM_RATE = f"if(s.currency = {{fx_base:String}}, {_ONE}, f.fx_from_rate)"
_TO_RATE = f"if(s.fx_to = {{fx_base:String}}, {_ONE}, t.fx_to_rate)"
_KEPT = "s.currency IN ('', s.fx_to)"
_KNOWN = f"({_FROM_RATE} > 0 AND {_TO_RATE} > 0)"
ORDER_EVENTS = sql_names(E.ORDER_COMPLETED, E.ORDER_REFUNDED, E.ORDER_CANCELLED)
CONVERTED = ("kpis", "products", "attribution", "coupons", "rfm", "customers", "experiments",
             "automation")  # reports whose money is converted
TIME_RANGE = ("event_time >= {start:DateTime64(3, 'UTC')} AND event_time < "
              "{end:DateTime64(3, 'UTC')}")


def _in_reporting(column: str) -> str:
    return (f"multiIf({_KEPT}, toDecimal128(s.{column}, 4), {_KNOWN}, toDecimal128(round("
            f"toDecimal256(s.{column}, 4) * {_FROM_RATE} / if({_TO_RATE} > 0, {_TO_RATE}, {_ONE}),"
            f" 2), 4), toDecimal128(0, 4))")


def converted(table: str, amounts: tuple[str, ...], where: str = "1",
              time_column: str = "event_time") -> str:
    """The rows of ``table`` that match ``where`` (SQL over its columns), the ``amounts``
    columns in the reporting currency at the rate of ``time_column``'s UTC date; plus
    ``fx_missing`` and ``fx_<amount>`` (as sent)."""
    replaced = ", ".join(f"{_in_reporting(c)} AS {c}" for c in amounts)
    sent = ", ".join(f"s.{c} AS fx_{c}" for c in amounts)
    return f"""
    SELECT s.* EXCEPT (fx_to, fx_day) REPLACE ({replaced}), {sent},
           toUInt8(NOT {_KEPT} AND NOT {_KNOWN}) AS fx_missing
    FROM (SELECT *, {{reporting:String}} AS fx_to, toDate({time_column}) AS fx_day
          FROM {table} WHERE {where}) AS s
    ASOF LEFT JOIN {_RATES.format(side="from")} AS f
        ON f.fx_from = s.currency AND s.fx_day >= f.fx_from_date
    ASOF LEFT JOIN {_RATES.format(side="to")} AS t ON t.fx_to = s.fx_to AND s.fx_day >= t.fx_to_date"""


def converted_orders(where: str = "1") -> str:
    """The tenant's order events (completed, refunded, cancelled) of the range, converted."""
    return converted("events", ("revenue", "discount"),
                     f"tenant = {{tenant:String}} AND {TIME_RANGE} AND event IN ({ORDER_EVENTS})"
                     f" AND ({where})")


def in_reporting_currency(query: str, where: str = "1") -> str:
    """``query`` (reading ``FROM events AS e``) reading the converted order events instead."""
    if query.count("FROM events AS e\n") != 1:
        raise ValueError("the query must read 'FROM events AS e' once")
    return query.replace("FROM events AS e\n", f"FROM ({converted_orders(where)}) AS e\n")


def kpi_money(bucket_of: str, include_bots: bool, dimension: str | None = None) -> str:
    """Per bucket (``bucket_of`` formats a time column), and per value of ``dimension`` (an
    expression over ``e``, in a column ``dimension``) when given: ``fx_revenue``,
    ``fx_refund_amount`` and ``fx_cancel_amount`` in the reporting currency, as
    ``kpi_minute``'s view defines them, and ``fx_orders``, the completed orders among them
    (an order without a rate is in no money figure, so AOV divides by these)."""
    from sinks.analytics.bots import human_only, kpi_rows_of_events

    # the rows without a rate add 0 to every amount: leaving them out changes only the count
    rows = in_reporting_currency(kpi_rows_of_events("e.fx_missing = 0", dimension),
                                 "1" + human_only(include_bots, "is_bot"))
    by = ", k.dimension AS dimension" if dimension else ""
    return f"""
    SELECT {bucket_of.format(c="k.minute")} AS bucket{by}, sum(k.revenue) AS fx_revenue,
           sum(k.refund_amount) AS fx_refund_amount, sum(k.cancel_amount) AS fx_cancel_amount,
           sum(k.orders) AS fx_orders
    FROM ({rows}) AS k GROUP BY bucket{", dimension" if dimension else ""}"""


def session_money() -> str:
    """Per session (``session_events``' rule) with an order from the range's start on:
    ``fx_revenue``, its completed orders in the reporting currency (``session_summary``'s
    ``revenue``, converted)."""
    orders = converted("events", ("revenue",),
                       f"tenant = {{tenant:String}} AND event = {sql_names(E.ORDER_COMPLETED)}"
                       " AND event_time >= {start:DateTime64(3, 'UTC')}")
    return f"""
    SELECT e.session_id AS session_id, sum(toDecimal128(o.revenue, 4)) AS fx_revenue
    FROM session_events AS e INNER JOIN (SELECT event_id, revenue FROM ({orders})) AS o
         ON o.event_id = e.event_id
    WHERE e.tenant = {{tenant:String}} AND e.event = {sql_names(E.ORDER_COMPLETED)}
      AND e.event_time >= {{start:DateTime64(3, 'UTC')}}
    GROUP BY session_id"""


def product_money(where: str = "") -> str:
    """Per product of the range: ``fx_revenue`` and ``fx_refunded_revenue`` in the reporting
    currency, as ``product_daily``'s view defines them; ``where``: more conditions on the
    order lines (`` AND ...``, as :mod:`sinks.analytics.bots` gives them)."""
    query = PRODUCT_DAILY_ITEMS_MV.split(" AS\n", 1)[1]
    if query.count("FROM order_items\n") != 1:
        raise ValueError("product_daily_items_mv's query changed: update sinks/analytics/currency.py")
    lines = converted("order_items", ("line_total",), f"tenant = {{tenant:String}} AND {TIME_RANGE}{where}")
    rows = query.replace("FROM order_items\n", f"FROM ({lines})\n")
    return f"""
    SELECT product_id, sum(revenue) AS fx_revenue, sum(refunded_revenue) AS fx_refunded_revenue
    FROM ({rows}) GROUP BY product_id"""


def coupon_money(where: str = "") -> str:
    """Per coupon of the range: ``fx_discount`` and ``fx_revenue`` in the reporting currency,
    as ``coupon_daily``'s view defines them; ``where``: more conditions on the order events
    (`` AND ...``, as :mod:`sinks.analytics.bots` gives them)."""
    rows = in_reporting_currency(COUPON_DAILY_MV.split(" AS\n", 1)[1], "coupon != ''" + where)
    return f"""
    SELECT coupon, sum(discount) AS fx_discount, sum(revenue) AS fx_revenue
    FROM ({rows}) GROUP BY coupon"""


UNCONVERTED = f"""
    SELECT toString(currency) AS currency,
           sum(toDecimal128(fx_revenue, 4) * if(event = {sql_names(E.ORDER_COMPLETED)}, 1, -1)) AS net
    FROM ({converted_orders()})
    WHERE fx_missing = 1
    GROUP BY currency HAVING net != 0 ORDER BY currency"""


def unconverted_amounts(client: Client, parameters: dict[str, Any]) -> dict[str, Decimal]:
    """``{currency: amount}``: the net revenue (orders less refunds and cancellations) of the
    range in currencies without a rate, left out of every money figure of the reports."""
    rows = client.query(UNCONVERTED, parameters=parameters).result_rows
    return {str(currency): Decimal(net) for currency, net in rows}
