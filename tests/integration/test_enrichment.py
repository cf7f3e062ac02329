"""Enrichment end to end: simulated crawler traffic is kept in ClickHouse flagged
``is_bot = 1`` and left out of ``report kpis``, ``report funnel`` and the triggers by
default; ``--include-bots`` puts it back in the reports. Through the CLI (``ingest``,
``report``, ``sql``: the worker's settings, enrichment on by default) and through a worker
on the broker (triggers)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from streams.sdk.tracker import Tracker
from streams.sources.simulator import SimConfig, simulate
from tests.support import read_topic, wait_for

pytestmark = pytest.mark.integration
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
T = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def command(chdb_url, tmp_path, monkeypatch, capsys):
    """``shopstream ...`` run in this process (its argument parsing and settings, as a user
    types it) against a fresh database of the test process's embedded ClickHouse; what it
    printed as JSON. A process per command would cost seconds each."""
    from sinks.connection import connect
    from streams.cli.main import main

    database = f"test_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("CLICKHOUSE_URL", chdb_url)
    monkeypatch.setenv("SHOPSTREAM_CLICKHOUSE_DATABASE", database)
    monkeypatch.setenv("SHOPSTREAM_DATA_DIR", str(tmp_path / "data"))

    def run(*args: str) -> list[dict]:
        capsys.readouterr()
        code = main([*args, "--format", "json"]) if args[0] != "ingest" else main(list(args))
        printed = capsys.readouterr()
        assert code == 0, printed.err[-2000:]
        return json.loads(printed.out, parse_float=Decimal) if args[0] != "ingest" else []

    yield run
    connect(chdb_url, database).command(f"DROP DATABASE IF EXISTS `{database}`")


def test_bots_are_kept_flagged_and_left_out_of_kpis_and_funnel_unless_included(tmp_path, command):
    start = datetime(2026, 2, 1, tzinfo=UTC)
    config = SimConfig(seed=11, rate=5, bots=0.2, malformed=0, duplicates=0, start=start)
    source = tmp_path / "traffic.jsonl"
    source.write_bytes(b"\n".join(e.to_bytes() for e in simulate(config, 2500)) + b"\n")
    command("ingest", str(source))

    kinds = command("sql", "SELECT is_bot, startsWith(user_key, 'bot-') AS crawler, "
                    "groupUniqArray(device_type) AS devices, count() AS n FROM events "
                    "GROUP BY ALL ORDER BY ALL")
    assert [(k["is_bot"], k["crawler"]) for k in kinds] == [(0, 0), (1, 1)]  # crawlers, only
    assert kinds[1]["devices"] == ["bot"] and kinds[1]["n"] > 100

    def expected(where: str) -> dict:
        [row] = command("sql", f"""
            SELECT uniqExact(user_key) AS users, countIf(type = 'page') AS page_views,
                   countIf(event = 'Product Viewed') AS product_views,
                   countIf(event = 'Product Added') AS adds, countIf(event = 'Order Completed') AS orders,
                   (SELECT uniqExact(session_id) FROM session_events WHERE {where}) AS sessions
            FROM events WHERE {where}""")
        return row

    def totals(rows: list[dict]) -> dict:
        return {key: sum(r[key] for r in rows) for key in expected("1")}

    humans, everyone = expected("is_bot = 0"), expected("1")
    assert everyone["adds"] > humans["adds"] and everyone["page_views"] > humans["page_views"]
    kpis = command("report", "kpis", "--grain", "month")
    assert totals(kpis) == humans
    assert sum(r["new_users"] for r in kpis) == humans["users"]
    with_bots = command("report", "kpis", "--grain", "month", "--include-bots")
    assert totals(with_bots) == everyone
    assert [r["revenue"] for r in kpis] == [r["revenue"] for r in with_bots]  # bots buy nothing

    # the ready-made views (migration 14): kpi_daily and kpi_hourly leave bots out, the
    # _with_bots views keep them
    figures = ("page_views", "product_views", "adds", "orders")
    for view, want in (("kpi_daily", humans), ("kpi_hourly", humans),
                       ("kpi_daily_with_bots", everyone), ("kpi_hourly_with_bots", everyone)):
        [row] = command("sql", "SELECT " + ", ".join(f"sum({f}) AS {f}" for f in figures)
                        + f" FROM {view}")
        assert row == {f: want[f] for f in figures}, view

    # by dimension: the same figures, split; crawlers come from the US, as the bot device
    for by in ("device", "country", "source"):
        split = command("report", "kpis", "--grain", "month", "--by", by)
        summed = ("page_views", "adds", "orders", "revenue")
        assert {k: sum(r[k] for r in split) for k in summed} == {
            k: sum(r[k] for r in kpis) for k in summed}, by
    devices = {r["device"]: r for r in command("report", "kpis", "--by", "device",
                                                "--grain", "month", "--include-bots")}
    assert set(devices) == {"desktop", "mobile", "tablet", "bot", "(unknown)"}  # flat: no agent
    assert devices["bot"]["orders"] == 0 and devices["bot"]["page_views"] == (
        everyone["page_views"] - humans["page_views"])
    countries = {r["country"] for r in command("report", "kpis", "--by", "country")}
    assert {"US", "GB", "DE", "BR", "JP"} <= countries
    sources = {r["source"] for r in command("report", "kpis", "--by", "source")}
    assert {"paid", "social", "email", "direct"} <= sources

    sessions = command("sql", "SELECT is_bot, count() AS n FROM session_summary GROUP BY is_bot "
                       "ORDER BY is_bot")
    [funnel] = command("report", "funnel", "--grain", "month")
    [funnel_all] = command("report", "funnel", "--grain", "month", "--include-bots")
    assert funnel["visit"] == sessions[0]["n"]
    assert funnel_all["visit"] == sessions[0]["n"] + sessions[1]["n"]
    assert funnel_all["add_to_cart"] > funnel["add_to_cart"]  # some crawlers fill carts
    assert funnel_all["purchase"] == funnel["purchase"]


def test_a_bots_abandoned_cart_sends_no_trigger(settings, worker_factory, kafka):
    worker = worker_factory(CART_ABANDON_AFTER="30m").start()
    t = settings.topics
    bot = {"userAgent": GOOGLEBOT, "ip": "66.249.66.1"}
    item = {"product_id": "p1", "price": "10.00", "quantity": 1, "currency": "USD"}
    with Tracker(kafka, t.raw) as tracker:
        tracker.product_added("alice", item, "c-alice", timestamp=T)
        tracker.page("Home", {"path": "/"}, user_id="alice", timestamp=T + timedelta(minutes=40))
        # the crawler's cart, then (same key, so same partition, in order) a shopper's cart on
        # that key abandoned later: once its trigger is out, the crawler's deadline has passed
        tracker.track("Product Added", {**item, "cart_id": "c-bot"}, anonymous_id="visitor-9",
                      context=bot, timestamp=T)
        tracker.page("Home", {"path": "/"}, anonymous_id="visitor-9", context=bot,
                     timestamp=T + timedelta(minutes=40))
        tracker.track("Product Added", {**item, "cart_id": "c-later"}, anonymous_id="visitor-9",
                      timestamp=T + timedelta(minutes=41))
        tracker.page("Home", {"path": "/"}, anonymous_id="visitor-9",
                     timestamp=T + timedelta(minutes=80))
        tracker.flush()

    def abandoned() -> list[str]:
        return sorted(orjson.loads(r.value)["cart_id"]
                      for r in read_topic(kafka, t.triggers["cart_abandoned"]))

    wait_for(lambda: len(abandoned()) >= 2, 90, "alice's and the later shopper's carts abandoned")
    assert abandoned() == ["c-alice", "c-later"]
    wait_for(lambda: worker.sql_or_none("SELECT count() AS n FROM events") == [{"n": 6}], 90,
             "six events in ClickHouse")
    flagged = worker.sql("SELECT is_bot, count() AS n FROM events GROUP BY is_bot ORDER BY is_bot")
    assert flagged == [{"is_bot": 0, "n": 4}, {"is_bot": 1, "n": 2}]
    assert worker.metric("shopstream_bot_events_total") == 2
