"""Mixed-currency orders through ``ingest`` into the real ClickHouse engine (chDB), rates
loaded the way ``shopstream fx load`` loads them: every money figure in the reporting
currency, checked against figures worked out by hand; the amount without a rate reported
apart.

Rates (USD per unit; USD is the base):   2026-03-01 EUR 1.10, GBP 1.25
                                         2026-03-02 EUR 1.20 (GBP: still 1.25)
Orders of tenant ``fx`` (reporting currency USD):
  day 1  o1 alice  10.00 EUR  (p1)  10.00 * 1.10        = 11.00
         o2 bob    20.00 GBP  (p2)  20.00 * 1.25        = 25.00
         o3 carol   5.55 USD  (p1)  kept                =  5.55    revenue 41.55, AOV 13.85
  day 2  o4 alice  33.33 EUR  (p1)  33.33 * 1.20        = 39.996 -> 40.00
         o5 dave   1500 JPY   (p3)  no rate: left out, reported as JPY 1500
         o6 bob     7.77 GBP  (p2)  7.77 * 1.25         = 9.7125 -> 9.71   revenue 49.71
         refund of o1 (10.00 EUR) on day 2, at day 2's rate: 10.00 * 1.20 = 12.00
         net revenue day 2: 49.71 - 12.00 = 37.71
In EUR (tenant ``fx`` reporting in EUR):
  day 1  o1 10.00 kept; o2 20.00 * 1.25 / 1.10 = 22.7272.. -> 22.73; o3 5.55 / 1.10 =
         5.04545.. -> 5.05; revenue 37.78
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import orjson
import pytest

from models.errors import ShopstreamError
from models.validation import Rules
from sinks.fx_rates import write_rates
from sinks.reports import ReportParams, run_report
from sinks.trigger_rows import TRIGGER_COLUMNS
from sinks.writer import ClickHouseWriter
from streams.cli.fx import read_rates
from streams.sources.ingest import ingest

RATES = "date,currency,rate\n2026-03-01,EUR,1.10\n2026-03-01,GBP,1.25\n2026-03-02,EUR,1.20\n"


def order(n: int, when: str, user: str, oid: str, total: str, currency: str, product: str,
          event: str = "Order Completed") -> dict:
    return {"type": "track", "event": event, "messageId": f"fx-{n}", "timestamp": when,
            "tenant": "fx", "userId": user, "context": {"sessionId": f"s-{user}-{when[:10]}"},
            "properties": {"order_id": oid, "total": total, "currency": currency,
                           "products": [{"product_id": product, "price": total, "quantity": 1}]}}


def exposure(n: int, user: str, variant: str) -> dict:
    return {"type": "track", "event": "Experiment Viewed", "messageId": f"fx-x{n}",
            "timestamp": "2026-03-01T09:00:00Z", "tenant": "fx", "userId": user,
            "context": {"sessionId": f"s-{user}-x"},
            "properties": {"experiment_id": "fx-test", "variation_id": variant}}


EVENTS = [
    order(1, "2026-03-01T10:00:00Z", "alice", "o1", "10.00", "EUR", "p1"),
    order(2, "2026-03-01T11:00:00Z", "bob", "o2", "20.00", "GBP", "p2"),
    order(3, "2026-03-01T12:00:00Z", "carol", "o3", "5.55", "USD", "p1"),
    order(4, "2026-03-02T10:00:00Z", "alice", "o4", "33.33", "EUR", "p1"),
    order(5, "2026-03-02T11:00:00Z", "dave", "o5", "1500", "JPY", "p3"),
    order(6, "2026-03-02T12:00:00Z", "bob", "o6", "7.77", "GBP", "p2"),
    order(7, "2026-03-02T13:00:00Z", "alice", "o1", "10.00", "EUR", "p1", "Order Refunded"),
]


@pytest.fixture
def shop(clickhouse, tmp_path):
    source = tmp_path / "orders.jsonl"
    exposures = [exposure(1, "alice", "control"), exposure(2, "bob", "b")]
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS + exposures) + b"\n")
    summary = ingest(source, "jsonl", ClickHouseWriter(clickhouse), Rules(), tmp_path / "dead.jsonl")
    assert (summary.events, summary.invalid) == (9, 0)
    rates = tmp_path / "rates.csv"
    rates.write_text(RATES)
    for _ in range(2):  # loaded twice: the same rates, once
        write_rates(clickhouse, read_rates(rates, "USD"))
    return clickhouse


def report(client, name, currency="USD", **kw):
    table = run_report(client, name, ReportParams(tenant="fx", reporting_currency=currency, **kw))
    return table.records(), table.unconverted


def test_rates_load_once_however_often_loaded(shop):
    assert shop.query("SELECT date, toString(currency), rate FROM fx_rates FINAL "
                      "ORDER BY currency, date").result_rows == [
        (date(2026, 3, 1), "EUR", D("1.1")), (date(2026, 3, 2), "EUR", D("1.2")),
        (date(2026, 3, 1), "GBP", D("1.25"))]


def test_kpis_in_the_reporting_currency(shop):
    (day1, day2), unconverted = report(shop, "kpis")
    assert (day1["orders"], day1["revenue"], day1["refund_amount"], day1["net_revenue"],
            day1["aov"]) == (3, D("41.55"), D("0"), D("41.55"), D("13.85"))
    # orders counts every order, the JPY one too; its amount is in no money figure, so AOV
    # divides the revenue by the two orders it holds: 49.71 / 2 = 24.855 -> 24.86
    assert (day2["orders"], day2["revenue"], day2["refund_amount"], day2["net_revenue"],
            day2["aov"]) == (3, D("49.71"), D("12.00"), D("37.71"), D("24.86"))
    assert unconverted == {"JPY": D("1500")}


def test_kpis_in_another_reporting_currency(shop):
    (day1, _), unconverted = report(shop, "kpis", currency="EUR")
    assert day1["revenue"] == D("37.78")
    assert unconverted == {"JPY": D("1500")}


def test_products_and_customers_in_the_reporting_currency(shop):
    products, unconverted = report(shop, "products")
    by_id = {r["product_id"]: (r["revenue"], r["refunded_revenue"], r["net_revenue"]) for r in products}
    # p1: 11.00 + 5.55 + 40.00 = 56.55, refunded 12.00; p2: 25.00 + 9.71; p3: JPY only
    assert by_id == {"p1": (D("56.55"), D("12.00"), D("44.55")),
                     "p2": (D("34.71"), D("0"), D("34.71")), "p3": (D("0"), D("0"), D("0"))}
    assert unconverted == {"JPY": D("1500")}
    customers, _ = report(shop, "customers")
    revenue = {r["user_id"]: r["revenue"] for r in customers}
    # alice 11.00 + 40.00 - 12.00; bob 25.00 + 9.71; carol 5.55; dave: JPY, 0 here
    assert revenue == {"alice": D("39.00"), "bob": D("34.71"), "carol": D("5.55"), "dave": D("0")}
    # AOV over the orders whose amounts are in the revenue: dave's JPY order is in none
    assert {r["user_id"]: (r["orders"], r["aov"]) for r in customers} == {
        "alice": (2, D("19.50")), "bob": (2, D("17.36")), "carol": (1, D("5.55")),
        "dave": (1, D("0.00"))}


def test_without_rates_nothing_foreign_is_summed(clickhouse, tmp_path):
    source = tmp_path / "orders.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS[:3]) + b"\n")
    ingest(source, "jsonl", ClickHouseWriter(clickhouse), Rules(), tmp_path / "dead.jsonl")
    (day1,), unconverted = report(clickhouse, "kpis")
    assert day1["revenue"] == D("5.55")
    assert unconverted == {"EUR": D("10.00"), "GBP": D("20.00")}


def test_a_bad_file_loads_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,currency,rate\n2026-03-01,EUR,1.1\n2026-03-32,EUR,1\n2026-03-01,eur,1\n")
    with pytest.raises(ShopstreamError) as error:
        read_rates(bad, "USD")
    assert "2 bad row(s)" in str(error.value) and "line 3: date" in str(error.value)
    assert "line 4: currency" in str(error.value)


def test_kpis_by_dimension_in_the_reporting_currency(shop):
    rows, unconverted = report(shop, "kpis", by="country")
    # no address sent: every order under (unknown); the same figures as the kpis
    assert [(r["country"], r["orders"], r["revenue"], r["refund_amount"], r["net_revenue"],
             r["aov"]) for r in rows] == [
        ("(unknown)", 3, D("41.55"), D("0"), D("41.55"), D("13.85")),
        ("(unknown)", 3, D("49.71"), D("12.00"), D("37.71"), D("24.86"))]
    assert unconverted == {"JPY": D("1500")}


def test_attribution_and_experiments_in_the_reporting_currency(shop):
    [direct], unconverted = report(shop, "attribution")
    # six sessions with an order (dave's JPY one too); completed orders' revenue:
    # 11.00 + 25.00 + 5.55 + 40.00 + 9.71 (the JPY order: apart)
    assert (direct["source"], direct["conversions"], direct["revenue"]) == ("(direct)", 6, D("91.26"))
    assert unconverted == {"JPY": D("1500")}
    variants, unconverted = report(shop, "experiments")
    revenue = {r["variation_id"]: (r["shoppers"], r["revenue"]) for r in variants}
    # alice (control): 11.00 + 40.00; bob (b): 25.00 + 9.71
    assert revenue == {"control": (1, D("51.00")), "b": (1, D("34.71"))}
    assert unconverted == {"JPY": D("1500")}


def test_automation_in_the_reporting_currency(shop):
    def trigger(tid: str, kind: str, when: str, user: str, value: str = "0", currency: str = "",
                abandoned: str = "") -> list:
        at = datetime.fromisoformat(when)
        return ["fx", tid, kind, at, at, user, "", user, "c1", "", "", D(value), currency,
                abandoned, 0.0, "{}"]

    shop.insert("triggers", [
        trigger("a1", "cart_abandoned", "2026-03-01T09:00:00+00:00", "alice", "10.00", "EUR"),
        # recovered 10.00 EUR on day 1: 11.00
        trigger("r1", "cart_recovered", "2026-03-01T10:00:00+00:00", "alice", "10.00", "EUR", "a1"),
        trigger("p1", "post_purchase", "2026-03-01T10:30:00+00:00", "bob"),
        trigger("p2", "post_purchase", "2026-03-02T10:30:00+00:00", "dave"),
    ], column_names=list(TRIGGER_COLUMNS))
    rows, unconverted = report(shop, "automation")
    figures = {(str(r["day"]), r["type"]): (r["sent"], r["orders"], r["revenue"]) for r in rows}
    # bob's orders after his trigger: o2 25.00 and o6 9.71; dave's: only the JPY one, apart
    assert figures == {("2026-03-01", "cart_abandoned"): (1, 1, D("11.00")),
                       ("2026-03-01", "post_purchase"): (1, 2, D("34.71")),
                       ("2026-03-02", "post_purchase"): (1, 1, D("0"))}
    assert unconverted == {"JPY": D("1500")}


def test_the_lifetime_model_reads_orders_in_the_reporting_currency(shop):
    """``predict train``'s orders: each net value converted as the reports convert it (the
    order at its date, a refund at its own); dave's JPY order, without a rate, is an order
    of unknown value (None), never 1500 of anything."""
    from sinks.analytics.prediction import Money, order_history

    def values(currency):
        return {(user, order_day): value for user, at_ms, value in
                order_history(shop, "fx", Money(currency, "USD"))
                for order_day in [datetime.fromtimestamp(at_ms / 1000, UTC).day]}

    # o1 11.00 less its refund at day 2's rate (12.00): nothing left, never below 0
    assert values("USD") == {("alice", 1): D("0"), ("bob", 1): D("25.00"),
                             ("carol", 1): D("5.55"), ("alice", 2): D("40.00"),
                             ("dave", 2): None, ("bob", 2): D("9.71")}
    # in EUR: o2 20 * 1.25 / 1.10 = 22.727 -> 22.73; o3 5.55 / 1.10 = 5.045 -> 5.05;
    # o6 7.77 * 1.25 / 1.20 = 8.094 -> 8.09; o1 and its refund are in EUR already
    assert values("EUR") == {("alice", 1): D("0"), ("bob", 1): D("22.73"),
                             ("carol", 1): D("5.05"), ("alice", 2): D("33.33"),
                             ("dave", 2): None, ("bob", 2): D("8.09")}
