"""Pure scoring, the read-only SQL guard and the output formats."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal as D
from itertools import product

import orjson
import pytest

from models.segments import SegmentRules, customer_segment, quintile_scores, rfm_segment
from sinks.errors import ReadOnlyViolation
from sinks.reports import Table
from sinks.sql import check_read_only
from streams.cli.output import write_table


def test_quintiles_rank_and_share_ties():
    assert quintile_scores([1, 2, 3, 4, 5]) == [1, 2, 3, 4, 5]
    assert quintile_scores([7, 7, 7]) == [5, 5, 5]
    assert quintile_scores([10, 1, 1, 5], higher_is_better=False) == [2, 5, 5, 3]
    assert quintile_scores(list(range(10))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintile_scores([]) == []


def test_every_rfm_cell_has_exactly_one_segment():
    seen = {rfm_segment(r, f, m) for r, f, m in product(range(1, 6), repeat=3)}
    assert seen == {"Champions", "Loyal", "Potential Loyalist", "New", "Promising",
                    "Need Attention", "At Risk", "Can't Lose Them", "Hibernating", "Lost"}
    assert rfm_segment(5, 5, 5) == "Champions"
    assert rfm_segment(1, 5, 5) == "Can't Lose Them"
    assert rfm_segment(5, 1, 1) == "New"
    assert rfm_segment(1, 1, 1) == "Lost"


@pytest.mark.parametrize(("orders", "revenue", "gap", "segment"), [
    (0, D(0), None, "new"), (1, D(50), None, "new"), (2, D(50), 10.0, "returning"),
    (3, D(50), 40.0, "loyal"), (5, D(50), 40.0, "loyal"), (5, D(50), 30.0, "frequent buyer"),
    (1, D(1000), None, "high value"), (9, D(5000), 1.0, "high value"),
])
def test_customer_segments(orders, revenue, gap, segment):
    assert customer_segment(orders, revenue, gap) == segment


def test_customer_segment_thresholds_are_configurable():
    rules = SegmentRules(high_value_revenue=D(100), frequent_buyer_orders=2,
                         frequent_buyer_gap_days=7)
    assert customer_segment(1, D(150), None, rules) == "high value"
    assert customer_segment(2, D(50), 5.0, rules) == "frequent buyer"


@pytest.mark.parametrize("sql", ["SELECT 1", "  with x as (select 1) select * from x",
                                 "SHOW TABLES;", "-- note\nDESCRIBE events", "EXPLAIN SELECT 1"])
def test_read_only_statements_pass(sql):
    assert check_read_only(sql)


@pytest.mark.parametrize(("sql", "why"), [
    ("DROP TABLE events", "not DROP"), ("insert into events values (1)", "not INSERT"),
    ("SELECT 1; DROP TABLE events", "one statement"), ("  ", "no query"),
    ("/* SELECT */ ALTER TABLE events DELETE WHERE 1", "not ALTER"),
])
def test_writes_are_refused(sql, why):
    with pytest.raises(ReadOnlyViolation, match=why):
        check_read_only(sql)


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
