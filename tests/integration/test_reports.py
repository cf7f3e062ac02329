"""Every rollup and report on the hand-built shop equals the hand-computed figures.

Runs on the real ClickHouse engine (chDB, in-process), a fresh database per test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from models.validation import Rules
from sinks.reports import ReportParams, run_report
from sinks.writer import ClickHouseWriter
from streams.sources.ingest import ingest
from tests.integration.handbuilt_shop import events
from tests.support import ingest_events

NOW = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture
def shop(clickhouse, tmp_path):
    summary, _dead = ingest_events(clickhouse, tmp_path, events(), NOW)
    assert (summary.events, summary.invalid, summary.duplicates) == (23, 0, 0)
    return clickhouse


def report(client, name, **kw):
    return run_report(client, name, ReportParams(tenant="t1", **kw)).records()


def test_raw_tables(shop):
    assert shop.query("SELECT count(), uniqExact(event_id) FROM events WHERE tenant = 't1'"
                      ).result_rows == [(22, 22)]
    items = shop.query("SELECT event, order_id, product_id, quantity, line_total, sign FROM "
                       "order_items WHERE tenant = 't1' ORDER BY event_time, line").result_rows
    assert items == [
        ("Order Completed", "o1", "p1", 2, D("20.00"), 1),
        ("Order Completed", "o1", "p2", 1, D("5.00"), 1),
        ("Order Completed", "o3", "p1", 1, D("10.00"), 1),
        ("Order Completed", "o3", "p3", 1, D("20.00"), 1),
        ("Order Completed", "o2", "p2", 1, D("5.00"), 1),
        ("Order Refunded", "o1", "p2", 1, D("5.00"), -1),
    ]
    row = shop.query("SELECT revenue, discount, coupon, utm_source, utm_campaign, session_id "
                     "FROM events WHERE event_id = 'hb-t1-006'").result_rows[0]
    assert row == (D("25.00"), D("5.00"), "SAVE5", "google", "brand", "s1")


def test_kpis_daily(shop):
    day1, day2 = report(shop, "kpis")
    assert day1 == {
        "bucket": date(2026, 3, 1), "sessions": 4, "users": 4, "new_users": 4,
        "returning_users": 0, "page_views": 3, "product_views": 3, "adds": 4, "checkouts": 2,
        "orders": 2, "revenue": D("55"), "refunds": 0, "refund_amount": D("0"),
        "cancellations": 1, "cancel_amount": D("30"), "net_revenue": D("25"), "aov": D("27.50"),
        "conversion_rate": 0.5,
    }
    assert day2 == {
        "bucket": date(2026, 4, 2), "sessions": 1, "users": 1, "new_users": 0,
        "returning_users": 1, "page_views": 0, "product_views": 1, "adds": 1, "checkouts": 1,
        "orders": 1, "revenue": D("5"), "refunds": 1, "refund_amount": D("5"),
        "cancellations": 0, "cancel_amount": D("0"), "net_revenue": D("0"), "aov": D("5.00"),
        "conversion_rate": 1.0,
    }


def test_kpis_hourly_minute_and_range(shop):
    hours = report(shop, "kpis", grain="hour")
    assert [(h["bucket"], h["orders"], h["revenue"]) for h in hours] == [
        (datetime(2026, 3, 1, 10), 2, D("55")), (datetime(2026, 4, 2, 10), 1, D("5"))]
    minute = report(shop, "kpis", grain="minute", start=datetime(2026, 3, 1, 10, 5, tzinfo=UTC),
                    end=datetime(2026, 3, 1, 10, 6, tzinfo=UTC))
    assert [(m["orders"], m["revenue"], m["sessions"]) for m in minute] == [(1, D("25"), 1)]
    april = report(shop, "kpis", start=datetime(2026, 4, 1, tzinfo=UTC))
    assert [a["bucket"] for a in april] == [date(2026, 4, 2)]


def test_funnel_counts_stages_in_order(shop):
    day1, day2 = report(shop, "funnel")
    # carol added before viewing: she reached the view, not the cart, in funnel order
    assert (day1["visit"], day1["product_view"], day1["add_to_cart"], day1["checkout"],
            day1["purchase"]) == (4, 3, 2, 2, 2)
    assert (day1["view_rate"], day1["cart_rate"], day1["conversion_rate"]) == (0.75, 0.6667, 0.5)
    assert (day2["visit"], day2["purchase"], day2["conversion_rate"]) == (1, 1, 1.0)


def test_products(shop):
    rows = {r["product_id"]: r for r in report(shop, "products")}
    assert list(rows) == ["p1", "p3", "p2"]  # by net revenue
    p1, p2, p3 = rows["p1"], rows["p2"], rows["p3"]
    assert (p1["views"], p1["adds"], p1["purchases"], p1["units"], p1["revenue"],
            p1["net_revenue"], p1["view_to_cart_rate"], p1["cart_to_purchase_rate"]) == (
        2, 2, 2, 3, D("30"), D("30"), 1.0, 1.0)
    assert (p2["purchases"], p2["units"], p2["revenue"], p2["refunded_units"],
            p2["refunded_revenue"], p2["net_revenue"]) == (2, 2, D("10"), 1, D("5"), D("5"))
    assert (p3["views"], p3["adds"], p3["purchases"], p3["view_to_cart_rate"],
            p3["cart_to_purchase_rate"]) == (1, 2, 1, 2.0, 0.5)
    assert [r["product_id"] for r in report(shop, "products", limit=1)] == ["p1"]
    every = [r["product_id"] for r in report(shop, "products", limit=0)]  # 0: every row
    assert every == [r["product_id"] for r in report(shop, "products")] and len(every) >= 3


def test_attribution(shop):
    rows = [(r["source"], r["medium"], r["campaign"], r["sessions"], r["conversions"],
             r["conversion_rate"], r["revenue"]) for r in report(shop, "attribution")]
    assert rows == [
        ("facebook", "social", "autumn", 1, 1, 1.0, D("30")),
        ("google", "cpc", "brand", 1, 1, 1.0, D("25")),
        ("(direct)", "(none)", "(none)", 3, 1, 0.3333, D("5")),
    ]


def test_coupons(shop):
    rows = [(r["coupon"], r["applied"], r["denied"], r["orders"], r["discount"], r["revenue"])
            for r in report(shop, "coupons")]
    assert rows == [("SAVE5", 1, 0, 1, D("5"), D("25")), ("BAD", 0, 1, 0, D("0"), D("0"))]


def test_page_engagement_rollup(shop):
    rows = shop.query("SELECT path, sum(views), uniqExactMerge(visitors), uniqExactMerge(sessions)"
                      " FROM page_daily WHERE tenant = 't1' GROUP BY path ORDER BY path"
                      ).result_rows
    assert rows == [("/", 2, 2, 2), ("/about", 1, 1, 1)]


def test_rfm(shop):
    rows = report(shop, "rfm", as_of=datetime(2026, 4, 12, 12, tzinfo=UTC))
    assert [tuple(r.values()) for r in rows] == [
        ("alice", 10, 2, D("25"), 5, 5, 5, "Champions"),
        ("bob", 42, 0, D("0"), 3, 3, 3, "Need Attention"),
    ]
    # as of the latest event, 2026-04-02 10:04: bob's order (03-01 10:14) is 31 d 23 h 50 min old
    latest = report(shop, "rfm")
    assert [(r["user_id"], r["recency_days"]) for r in latest] == [("alice", 0), ("bob", 31)]


def test_cohorts(shop):
    rows = [tuple(r.values()) for r in report(shop, "cohorts")]
    assert rows == [(date(2026, 3, 1), 0, 2, 2, 1.0), (date(2026, 3, 1), 1, 1, 2, 0.5)]


def test_affinity(shop):
    rows = [tuple(r.values()) for r in report(shop, "affinity")]
    assert rows == [
        ("p1", "p3", 1, 0.333333, 0.5, 1.0, 1.5),
        ("p1", "p2", 1, 0.333333, 0.5, 0.5, 0.75),
    ]
    assert report(shop, "affinity", min_support=0.5) == []


def test_customers(shop):
    alice, bob = report(shop, "customers")
    assert (alice["user_id"], alice["orders"], alice["revenue"], alice["aov"],
            alice["mean_days_between_orders"], alice["distinct_products"], alice["segment"]) == (
        "alice", 2, D("25"), D("12.50"), 32.0, 2, "returning")
    assert alice["first_order"] == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    assert (bob["orders"], bob["revenue"], bob["mean_days_between_orders"], bob["segment"]) == (
        0, D("0"), None, "new")


def test_other_tenant_is_separate(shop):
    other = run_report(shop, "kpis", ReportParams(tenant="other")).records()
    assert [(o["orders"], o["revenue"]) for o in other] == [(1, D("99"))]


def test_replayed_batches_change_nothing(shop, tmp_path):
    """The same file again: every batch token repeats, so no table or rollup moves."""
    before = report(shop, "kpis") + report(shop, "products")
    source = tmp_path / "shop.jsonl"
    ingest(source, "jsonl", ClickHouseWriter(shop), Rules(), tmp_path / "d2.jsonl",
           now=lambda: NOW)
    assert report(shop, "kpis") + report(shop, "products") == before
    assert shop.query("SELECT count() FROM events").result_rows == [(23,)]


def test_week_and_month_grains(shop):
    """2026-03-01 is a Sunday: its week starts on Monday 2026-02-23. Each bucket holds one
    of the shop's two days, so its figures are that day's."""
    daily = report(shop, "kpis")
    for grain, buckets in (("week", [date(2026, 2, 23), date(2026, 3, 30)]),
                           ("month", [date(2026, 3, 1), date(2026, 4, 1)])):
        rows = report(shop, "kpis", grain=grain)
        assert [r["bucket"] for r in rows] == buckets
        assert [{**r, "bucket": None} for r in rows] == [{**d, "bucket": None} for d in daily]
    weeks = report(shop, "funnel", grain="week")
    assert [(w["week"], w["visit"], w["purchase"]) for w in weeks] == [
        (date(2026, 2, 23), 4, 2), (date(2026, 3, 30), 1, 1)]
    assert [m["month"] for m in report(shop, "funnel", grain="month")] == [
        date(2026, 3, 1), date(2026, 4, 1)]


def test_cohorts_by_day_and_week(shop):
    # alice and bob first ordered on 2026-03-01; alice again on 2026-04-02: 32 days later,
    # and 5 weeks (Monday 02-23 to Monday 03-30)
    assert [tuple(r.values()) for r in report(shop, "cohorts", grain="day")] == [
        (date(2026, 3, 1), 0, 2, 2, 1.0), (date(2026, 3, 1), 32, 1, 2, 0.5)]
    assert [tuple(r.values()) for r in report(shop, "cohorts", grain="week")] == [
        (date(2026, 2, 23), 0, 2, 2, 1.0), (date(2026, 2, 23), 5, 1, 2, 0.5)]
    assert list(report(shop, "cohorts", grain="week")[0]) == [
        "cohort", "weeks_since", "customers", "cohort_size", "retention_rate"]
    with pytest.raises(ValueError, match="grain must be one of day, week, month"):
        report(shop, "cohorts", grain="hour")


def test_ingest_finds_duplicates_within_a_tenant_not_across_tenants(clickhouse, tmp_path):
    """The same messageId from two shops is two events; from one shop twice, one."""
    def viewed(tenant: str) -> dict:
        return {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "m1",
                "tenant": tenant, "timestamp": "2026-04-30T10:00:00Z",
                "properties": {"product_id": "p1"}}

    summary, _dead = ingest_events(
        clickhouse, tmp_path, [viewed("acme"), viewed("other"), viewed("acme"), viewed("default")],
        NOW)
    assert (summary.events, summary.duplicates) == (3, 1)
    assert sorted(clickhouse.query(
        "SELECT tenant, count() FROM events FINAL GROUP BY tenant").result_rows) == [
        ("acme", 1), ("default", 1), ("other", 1)]


def test_an_empty_report_keeps_its_columns(shop, tmp_path):
    """The embedded engine's client names no columns for an empty result; a report or a
    query with no rows still has them, so its CSV export has its header."""
    from sinks.reports import REPORTS
    from sinks.sql import run_sql
    from streams.cli.export import export_table

    for name in REPORTS:
        table = run_report(shop, name, ReportParams(tenant="nobody"))
        assert table.rows == [] and table.columns, name
    kpis = run_report(shop, "kpis", ReportParams(tenant="nobody"))
    out = tmp_path / "empty.csv"
    export_table(kpis, "csv", out)
    assert out.read_text().splitlines() == [",".join(kpis.columns)]
    # and its Parquet columns keep their types (from ClickHouse's), not null
    import pyarrow.parquet as pq

    export_table(kpis, "parquet", tmp_path / "empty.parquet")
    schema = pq.read_table(tmp_path / "empty.parquet").schema
    assert str(schema.field("bucket").type) == "date32[day]"
    assert str(schema.field("revenue").type).startswith("decimal128")
    assert str(schema.field("orders").type) == "int64"
    assert run_sql(shop, "SELECT tenant, count() AS n FROM events WHERE tenant = 'nobody' "
                         "GROUP BY tenant").columns == ["tenant", "n"]


def test_sql_writes_no_file(shop, tmp_path):
    """readonly does not stop INTO OUTFILE, which the embedded engine would write where it
    runs (a worker's host, from an HTTP request): the guard refuses it before ClickHouse."""
    from sinks.errors import ReadOnlyViolation
    from sinks.sql import run_sql

    target = tmp_path / "out.txt"
    with pytest.raises(ReadOnlyViolation, match="INTO OUTFILE"):
        run_sql(shop, f"SELECT tenant FROM events INTO OUTFILE '{target}'")
    assert not target.exists()
