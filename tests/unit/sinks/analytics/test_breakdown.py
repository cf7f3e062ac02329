"""Revenue by dimension for the dashboard: a kpis --by table summed over its buckets."""

from __future__ import annotations

from decimal import Decimal

from sinks.analytics.breakdown import totals_by
from sinks.reports import Table


def test_buckets_are_summed_per_value_and_ordered_by_revenue():
    kpis_by = Table(["bucket", "country", "orders", "revenue", "net_revenue", "sessions"], [
        ["2026-02-01", "GB", 2, Decimal("30.00"), Decimal("25.00"), 4],
        ["2026-02-01", "(unknown)", 1, Decimal("5.00"), Decimal("5.00"), 2],
        ["2026-03-01", "GB", 1, Decimal("12.50"), Decimal("12.50"), 1],
        ["2026-03-01", "SE", 3, Decimal("60.00"), Decimal("40.00"), 3],
        ["2026-03-01", "DE", 0, Decimal("0"), Decimal("0"), 7],
    ])
    table = totals_by(kpis_by, "country")
    assert table.columns == ["country", "orders", "revenue", "net_revenue"]
    assert table.rows == [["SE", 3, Decimal("60.00"), Decimal("40.00")],
                          ["GB", 3, Decimal("42.50"), Decimal("37.50")],
                          ["(unknown)", 1, Decimal("5.00"), Decimal("5.00")],
                          ["DE", 0, Decimal("0"), Decimal("0")]]


def test_no_rows_give_an_empty_table():
    assert totals_by(Table(["bucket", "device", "orders", "revenue", "net_revenue"], []), "device").rows == []
