"""Order amounts, defined once: what reports, the ClickHouse rows and the live state count
as revenue.

- A line's total is its ``line_total``, else quantity (default 1) x price - discount.
- Order Completed: the order ``total``; without one its ``revenue``; else the sum of its lines.
- Order Refunded / Cancelled: the amount given back: its ``total``, else the sum of the lines
  it names, else 0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from models.ecommerce import EventName
from models.money import ZERO, money_or_zero


def line_total(line: dict[str, Any]) -> Decimal:
    if line.get("line_total") is not None:
        return money_or_zero(line["line_total"])
    quantity = int(line.get("quantity") or 1)
    return money_or_zero(line.get("price")) * quantity - money_or_zero(line.get("discount"))


def order_amount(event: str, props: dict[str, Any]) -> Decimal:
    if props.get("total") is not None:
        return money_or_zero(props["total"])
    if event == EventName.ORDER_COMPLETED and props.get("revenue") is not None:
        return money_or_zero(props["revenue"])
    return sum((line_total(p) for p in props.get("products") or []), ZERO)
