"""The output formats of reports and ``sql``: table, CSV, JSON."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal as D

import orjson

from sinks.reports import Table
from streams.cli.output import write_table

TABLE = Table(["day", "n", "amount", "name"],
              [[date(2026, 1, 2), 3, D("10.50"), "a"], [date(2026, 1, 3), 12, D("0.0001"), None]])


def test_output_formats():
    out = io.StringIO()
    write_table(TABLE, "csv", out)
    assert out.getvalue() == "day,n,amount,name\n2026-01-02,3,10.50,a\n2026-01-03,12,0.0001,\n"
    out = io.StringIO()
    write_table(TABLE, "json", out)
    assert orjson.loads(out.getvalue()) == [
        {"day": "2026-01-02", "n": 3, "amount": 10.5, "name": "a"},
        {"day": "2026-01-03", "n": 12, "amount": 0.0001, "name": None}]
    assert '"amount":10.50' in out.getvalue()
    out = io.StringIO()
    write_table(TABLE, "table", out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["day", "n", "amount", "name"]
    assert lines[2] == "2026-01-02   3   10.50  a"
    assert lines[-1] == "(2 rows)"
    out = io.StringIO()
    write_table(Table(["t"], [[datetime(2026, 1, 1, 5)]]), "csv", out)
    assert out.getvalue() == "t\n2026-01-01T05:00:00.000Z\n"
