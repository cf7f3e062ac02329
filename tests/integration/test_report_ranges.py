"""A report's ``--from``/``--to`` is an exact event time, also where the report reads a rollup
kept per day (``products``, ``coupons``) or per minute (``kpis``): a range off the rollup's
grain is read from the raw rows of the range, so counts and money agree. On the real
engine (chDB); the figures are worked out by hand below.

Tenant ``r``, 2026-05-02 (UTC), ann unless said:
  07:30 Product Viewed p1      07:50 Coupon Applied C1      08:05 Coupon Applied C1
  08:08:20 Order Completed o1 (p1, 50.00, coupon C1)       08:10 Product Viewed p1
  08:20 Product Added p1       08:40 Product Viewed p2 by Googlebot (a bot: left out)
  09:30 Product Viewed p2 (bob)
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import orjson
import pytest

from models.validation import Rules
from sinks.reports import ReportParams, run_report
from sinks.writer import ClickHouseWriter
from streams.sources.ingest import ingest

pytestmark = pytest.mark.integration
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def _event(n: int, hhmmss: str, name: str, props: dict[str, Any], user: str = "ann",
           agent: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"sessionId": f"s-{user}"}
    if agent:
        context["userAgent"] = agent
    return {"type": "track", "event": name, "messageId": f"rg-{n}", "tenant": "r",
            "timestamp": f"2026-05-02T{hhmmss}Z", "userId": user, "properties": props,
            "context": context}


ORDER = {"order_id": "o1", "currency": "USD", "total": "50.00", "coupon": "C1",
         "products": [{"product_id": "p1", "price": "50.00", "quantity": 1}]}
EVENTS = [
    _event(1, "07:30:00", "Product Viewed", {"product_id": "p1"}),
    _event(2, "07:50:00", "Coupon Applied", {"coupon_id": "C1"}),
    _event(3, "08:05:00", "Coupon Applied", {"coupon_id": "C1"}),
    _event(4, "08:08:20", "Order Completed", ORDER),
    _event(5, "08:10:00", "Product Viewed", {"product_id": "p1"}),
    _event(6, "08:20:00", "Product Added", {"product_id": "p1", "quantity": 1}),
    _event(7, "08:40:00", "Product Viewed", {"product_id": "p2"}, "crawler", GOOGLEBOT),
    _event(8, "09:30:00", "Product Viewed", {"product_id": "p2"}, "bob"),
]


@pytest.fixture
def shop(clickhouse, tmp_path):
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n")
    summary = ingest(source, "jsonl", ClickHouseWriter(clickhouse), Rules(enrich=True),
                     tmp_path / "dead.jsonl", now=lambda: datetime(2026, 6, 1, tzinfo=UTC))
    assert (summary.events, summary.invalid) == (8, 0)
    return clickhouse


def _report(client, name: str, start: str, end: str, **kw: Any) -> list[dict[str, Any]]:
    return run_report(client, name, ReportParams(
        tenant="r", start=datetime.fromisoformat(start), end=datetime.fromisoformat(end),
        **kw)).records()


def _products(client, start: str, end: str, **kw: Any) -> dict[str, tuple[Any, ...]]:
    return {r["product_id"]: (r["views"], r["adds"], r["purchases"], r["revenue"])
            for r in _report(client, "products", start, end, limit=0, **kw)}


def test_products_over_hours_count_the_events_of_those_hours(shop):
    day = ("2026-05-02T00:00:00+00:00", "2026-05-03T00:00:00+00:00")
    assert _products(shop, *day) == {"p1": (2, 1, 1, D("50.00")), "p2": (1, 0, 0, D("0"))}
    # 08:00-09:00: before the fix, no row at all (no day's midnight in the range)
    assert _products(shop, "2026-05-02T08:00:00+00:00", "2026-05-02T09:00:00+00:00") == {
        "p1": (1, 1, 1, D("50.00"))}
    # from 08:00 to the next midnight: the bot's view of p2 left out, bob's counted
    assert _products(shop, "2026-05-02T08:00:00+00:00", day[1]) == {
        "p1": (1, 1, 1, D("50.00")), "p2": (1, 0, 0, D("0"))}
    # with the bots: the crawler's view too
    assert _products(shop, "2026-05-02T08:00:00+00:00", "2026-05-02T09:00:00+00:00",
                     include_bots=True) == {"p1": (1, 1, 1, D("50.00")),
                                            "p2": (1, 0, 0, D("0"))}


def test_coupons_over_hours_count_the_events_of_those_hours(shop):
    [c1] = _report(shop, "coupons", "2026-05-02T08:00:00+00:00", "2026-05-02T09:00:00+00:00")
    assert (c1["coupon"], c1["applied"], c1["orders"], c1["revenue"]) == ("C1", 1, 1, D("50.00"))
    [c1] = _report(shop, "coupons", "2026-05-02T00:00:00+00:00", "2026-05-03T00:00:00+00:00")
    assert (c1["applied"], c1["orders"]) == (2, 1)


def test_kpis_from_inside_a_minute_count_what_the_money_counts(shop):
    """From 08:08:15: the order at 08:08:20 is in the range (its revenue always was; its
    count was not, so AOV divided by an order the report did not show)."""
    [hour] = _report(shop, "kpis", "2026-05-02T08:08:15+00:00", "2026-05-02T09:00:00+00:00",
                     grain="hour")
    assert (hour["orders"], hour["revenue"], hour["aov"], hour["product_views"], hour["adds"],
            hour["users"], hour["sessions"]) == (1, D("50.00"), D("50.00"), 1, 1, 1, 1)
    # 08:08:00-08:08:10 holds nothing: no row (it showed the order of 08:08:20 before)
    assert _report(shop, "kpis", "2026-05-02T08:08:00+00:00", "2026-05-02T08:08:10+00:00",
                   grain="minute") == []
    # on whole minutes the rollup is read, with the same figures
    [hour] = _report(shop, "kpis", "2026-05-02T08:08:00+00:00", "2026-05-02T09:00:00+00:00",
                     grain="hour")
    assert (hour["orders"], hour["revenue"], hour["product_views"], hour["users"]) == (
        1, D("50.00"), 1, 1)
