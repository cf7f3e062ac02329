"""Revenue by country and by device, for the dashboard: the ``report kpis --by`` figures
(:mod:`sinks.analytics.dimensions`) summed over the report's range.

Each dimension's table has one row per value (``(unknown)`` where events had none): orders,
revenue (completed orders), net revenue (less refunds and cancellations), ordered by
revenue. Bots are left out unless the parameters include them, as in the kpis report.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from clickhouse_connect.driver.client import Client

from sinks.reports import ReportParams, Table, run_report

DASHBOARD_DIMENSIONS = ("country", "device")
COLUMNS = ("orders", "revenue", "net_revenue")


def totals_by(table: Table, by: str) -> Table:
    """A ``kpis --by`` table's figures summed over its buckets, per value of ``by``."""
    totals: dict[str, tuple[int, Decimal, Decimal]] = {}
    for row in table.records():
        orders, revenue, net = totals.get(str(row[by]), (0, Decimal(0), Decimal(0)))
        totals[str(row[by])] = (orders + row["orders"], revenue + row["revenue"],
                                net + row["net_revenue"])
    ranked = sorted(totals.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))
    return Table([by, *COLUMNS], [[value, *sums] for value, sums in ranked])


def revenue_breakdown(client: Client, params: ReportParams,
                      dimensions: tuple[str, ...] = DASHBOARD_DIMENSIONS) -> dict[str, Table]:
    """``{dimension: table}`` over ``params``' tenant, range and bot option (month buckets:
    the fewest rows to sum)."""
    return {by: totals_by(run_report(client, "kpis", replace(params, by=by, grain="month")), by)
            for by in dimensions}
