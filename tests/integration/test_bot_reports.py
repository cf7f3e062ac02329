"""A crawler's events and a bot's order change no report by default, and show with
``include_bots`` (``--include-bots``): every report that reads events, on the hand-built
shop (chDB, a fresh database per test), and the lifetime model's inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import orjson
import pytest

from models.validation import Rules
from sinks.analytics.prediction import order_history
from sinks.reports import ReportParams, run_report
from sinks.writer import ClickHouseWriter
from streams.sources.ingest import ingest
from tests.integration.handbuilt_shop import DAY1, DAY2, _event, events, p, without_nulls

pytestmark = pytest.mark.integration
NOW = datetime(2026, 5, 1, tzinfo=UTC)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CRAWLER = "crawler-1"
REPORTS = ("kpis", "funnel", "products", "attribution", "coupons", "rfm", "cohorts", "affinity",
           "customers", "experiments", "automation")


def _write(client, tmp_path: Path, name: str, lines: list[dict[str, Any]]) -> None:
    source = tmp_path / f"{name}.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in lines) + b"\n")
    summary = ingest(source, "jsonl", ClickHouseWriter(client), Rules(enrich=True),
                     tmp_path / f"{name}-dead.jsonl", now=lambda: NOW)
    assert (summary.invalid, summary.duplicates) == (0, 0), summary


def _exposure(n: int, when: str, session: str, user: str, variant: str) -> dict[str, Any]:
    return _event(n, when, session, "track", "Experiment Viewed",
                  {"experiment_id": "e1", "variation_id": variant}, user)


def _people() -> list[dict[str, Any]]:
    """The hand-built shop, with alice and bob in an experiment."""
    return [*events(), _exposure(50, DAY1.format(m=0), "s1", "alice", "a"),
            _exposure(51, DAY1.format(m=10), "s3", "bob", "b")]


def _crawler() -> list[dict[str, Any]]:
    """Googlebot on 2026-04-02 (after every other event): browses, sees the experiment,
    applies SAVE5 and orders p1 and p9 (a product nobody else touched)."""
    order = {"order_id": "ob", "currency": "USD", "subtotal": "17.00", "total": "17.00",
             "coupon": "SAVE5", "products": [p("p1", "10.00", 1), p("p9", "7.00", 1)]}
    steps = [("page", None, {"path": "/", "url": "https://shop/"}),
             ("track", "Product Viewed", p("p9", "7.00")),
             ("track", "Product Added", {**p("p1", "10.00", 1), "cart_id": "cb"}),
             ("track", "Coupon Applied", {"coupon_id": "SAVE5", "discount": "0.00"}),
             ("track", "Experiment Viewed", {"experiment_id": "e1", "variation_id": "b"}),
             ("track", "Checkout Started", {**order, "order_id": None}),
             ("track", "Order Completed", order)]
    out = []
    for n, (call, name, props) in enumerate(steps):
        event = _event(60 + n, DAY2.format(m=20 + n), "sb", call, name, props,
                       anonymous=CRAWLER, campaign={"source": "crawl", "medium": "bot", "name": "x"})
        event["context"]["userAgent"] = GOOGLEBOT
        out.append(without_nulls(event))
    return out


def _reports(client, include_bots: bool = False) -> dict[str, list[dict[str, Any]]]:
    return {name: run_report(client, name, ReportParams(tenant="t1", include_bots=include_bots))
            .records() for name in REPORTS}


def test_a_crawler_and_a_bot_order_change_no_report_unless_included(clickhouse, tmp_path):
    _write(clickhouse, tmp_path, "people", _people())
    # a post_purchase trigger for the crawler's key: the bot's order would follow it
    clickhouse.command(
        "INSERT INTO triggers (tenant, trigger_id, type, time, emitted_at, user_key) VALUES "
        f"('t1', 'tr-1', 'post_purchase', '2026-04-02 10:19:00', '2026-04-02 10:19:00', '{CRAWLER}')")
    before, history = _reports(clickhouse), order_history(clickhouse, "t1")
    assert before["experiments"] and before["automation"] and before["affinity"]  # not vacuous

    _write(clickhouse, tmp_path, "crawler", _crawler())
    flagged = clickhouse.query("SELECT is_bot, count() FROM events WHERE tenant = 't1' "
                               "GROUP BY is_bot ORDER BY is_bot").result_rows
    assert flagged == [(0, 24), (1, 7)]

    after = _reports(clickhouse)
    for name in REPORTS:
        assert after[name] == before[name], name
    assert order_history(clickhouse, "t1") == history
    assert CRAWLER not in {user for user, _at, _value in history}

    bots = _reports(clickhouse, include_bots=True)
    for name in REPORTS:
        assert bots[name] != before[name], name
    products = {r["product_id"]: r for r in bots["products"]}
    assert (products["p9"]["views"], products["p9"]["purchases"], products["p9"]["revenue"]) == (
        1, 1, D("7.00"))
    people_p1 = {r["product_id"]: r for r in before["products"]}["p1"]
    assert products["p1"]["adds"] == people_p1["adds"] + 1
    assert products["p1"]["revenue"] == people_p1["revenue"] + D("10.00")
    coupons = {r["coupon"]: r for r in bots["coupons"]}
    assert coupons["SAVE5"]["orders"] == 2 and coupons["SAVE5"]["revenue"] == D("42.00")
    assert ("p1", "p9") in {(r["product_a"], r["product_b"]) for r in bots["affinity"]}
    assert CRAWLER in {r["user_id"] for r in bots["rfm"]}
    assert CRAWLER in {r["user_id"] for r in bots["customers"]}
    assert date(2026, 4, 1) in {r["cohort"] for r in bots["cohorts"]}
    shoppers = {r["variation_id"]: r["shoppers"] for r in bots["experiments"]}
    assert shoppers == {"a": 1, "b": 2}
    [sent] = [r for r in bots["automation"] if r["type"] == "post_purchase"]
    assert (sent["sent"], sent["converted"], sent["revenue"]) == (1, 1, D("17.00"))
    assert sum(r["sessions"] for r in bots["attribution"]) == sum(
        r["sessions"] for r in before["attribution"]) + 1
    assert sum(r["orders"] for r in bots["kpis"]) == sum(r["orders"] for r in before["kpis"]) + 1
