"""Live state on a real broker, through the worker: deterministic event-time scenarios
with exact expected triggers, a restart between a cart's last activity and its deadline,
the idle wall-clock advance, the live views, the ClickHouse funnel snapshot, the
trending topic, the trigger tail command, and the dashboard in headless Chromium."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from models.settings import load_settings
from streams.kafka.admin import ensure_topics
from streams.sdk.tracker import Tracker
from streams.sources.files import jsonl_records
from streams.sources.simulator import SimConfig, simulate
from tests.browser import Chromium, require_chromium
from tests.support import REPO, WorkerProcess, read_topic, wait_for, wait_until_equal, wait_until_stable

pytestmark = pytest.mark.integration
T = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DESKTOP_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/124.0.0.0 Safari/537.36")


def minutes(n: float) -> datetime:
    return T + timedelta(minutes=n)


def product(pid: str, price: str = "10.00", qty: int | None = None) -> dict:
    out = {"product_id": pid, "price": price, "currency": "USD", "name": f"Product {pid}",
           "category": "shoes.running"}
    if qty is not None:
        out["quantity"] = qty
    return out


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def triggers(kafka: str, topic: str) -> list[dict]:
    return [orjson.loads(r.value) for r in read_topic(kafka, topic)]


def committed_state(kafka: str, worker_app: str, key: str) -> bool:
    """Whether ``key`` is in the live-state changelog as committed (read_committed)."""
    records = read_topic(kafka, f"{worker_app}-live-state-changelog")
    latest = {}
    for record in records:
        latest[orjson.loads(record.key)] = record.value
    return latest.get(key) is not None


def test_cart_scenarios_in_event_time(settings, worker_factory, kafka):
    """abandoned then recovered; checked out; emptied; late activity; one trigger each."""
    worker = worker_factory().start()
    t = settings.topics
    # whatever lands on shop.events that is not a canonical event is a dead letter
    with Tracker(kafka, t.events, validate=False) as garbage:
        garbage.send_raw(b"not json", b"alice")
        garbage.send_raw(b'{"type": "track", "event": "Product Added"}', b"alice")
        garbage.flush()
    with Tracker(kafka, t.raw) as tracker:
        ctx = {"sessionId": "s-alice"}
        tracker.product_added("alice", product("p1", qty=2), "c-alice", timestamp=minutes(0),
                              context=ctx)
        tracker.product_added("alice", product("p2", "5.50", qty=1), "c-alice",
                              timestamp=minutes(2), context=ctx)
        tracker.product_added("bob", product("p1", qty=1), "c-bob", timestamp=minutes(0))
        tracker.checkout_started("bob", {"cart_id": "c-bob", "currency": "USD"},
                                 timestamp=minutes(5))
        tracker.product_added("carol", product("p3", qty=1), "c-carol", timestamp=minutes(0))
        tracker.product_removed("carol", product("p3", qty=1), "c-carol", timestamp=minutes(1))
        tracker.product_added("dave", product("p4", qty=1), "c-dave", timestamp=minutes(39))
        for user in ("alice", "bob", "carol", "dave"):  # event time moves on past 32 minutes
            tracker.page("Home", {"path": "/"}, user_id=user, timestamp=minutes(40))
        # 30 minutes behind dave's watermark (allowed lateness is 5): counted, not merged
        tracker.product_added("dave", product("p5", qty=1), "c-dave-late", timestamp=minutes(10))
        order = {"order_id": "o-alice", "currency": "USD", "total": "25.50",
                 "products": [{**product("p1", qty=2), "line_total": "20.00"},
                              {**product("p2", "5.50", qty=1), "line_total": "5.50"}]}
        tracker.order_completed("alice", order, timestamp=minutes(50))
        tracker.page("Home", {"path": "/"}, user_id="dave", timestamp=minutes(80))
        tracker.flush()

    def abandoned() -> list[dict]:
        return triggers(kafka, t.triggers["cart_abandoned"])

    wait_for(lambda: len(abandoned()) >= 2, 60, "two carts abandoned")
    wait_for(lambda: triggers(kafka, t.triggers["cart_recovered"]), 60, "alice's cart recovered")
    found = sorted(abandoned(), key=lambda x: x["cart_id"])
    assert [a["cart_id"] for a in found] == ["c-alice", "c-dave"]
    alice = found[0]
    assert alice["user_id"] == "alice" and alice["session_id"] == "s-alice"
    assert alice["total_items"] == 3 and alice["total_value"] == 25.5
    assert alice["cart_duration_minutes"] == 2.0
    assert alice["abandoned_at"] == "2026-03-01T10:32:00.000Z" == alice["time"]
    assert [(i["product_id"], i["quantity"], i["line_total"]) for i in alice["items"]] == [
        ("p1", 2, 20.0), ("p2", 1, 5.5)]
    assert alice["categories"] == ["shoes.running"] and alice["tenant"] == "default"
    assert found[1]["abandoned_at"] == "2026-03-01T11:09:00.000Z"
    [recovered] = triggers(kafka, t.triggers["cart_recovered"])
    assert recovered["cart_id"] == "c-alice" and recovered["order_id"] == "o-alice"
    assert recovered["recovered_revenue"] == 25.5 and recovered["minutes_since_abandonment"] == 18
    assert recovered["abandoned_trigger_id"] == alice["trigger_id"]
    live = get_json(f"{worker.base_url}/live")
    assert live["late_events"] == 1 and live["open_carts"] == 0
    # the live stage and the ClickHouse sink each dead-letter both, and carry on
    wait_for(lambda: len(read_topic(kafka, t.dlq)) >= 4, 60, "dead letters from live and sink")
    letters = [orjson.loads(r.value) for r in read_topic(kafka, t.dlq)]
    assert sorted(letter["stage"] for letter in letters) == ["live", "live", "sink", "sink"]
    assert all("not a canonical event" in letter["reasons"][0]["message"] for letter in letters)
    assert worker.metric("shopstream_triggers_total", type="cart_abandoned") == 2


def test_restart_between_activity_and_deadline_gives_one_trigger(settings, worker_factory, kafka):
    """The cart is committed, the worker is killed before the deadline, a new worker takes
    over: the idle wall clock moves the deadline on and exactly one trigger is sent."""
    t = settings.topics
    env = {"CART_ABANDON_AFTER": "8s"}
    worker = worker_factory(**env).start()
    now = datetime.now(UTC)
    with Tracker(kafka, t.raw) as tracker:
        tracker.product_added("erin", product("p7", qty=1), "c-erin", timestamp=now)
        tracker.flush()
    app_id = f"{settings.topic_prefix}shopstream"
    wait_for(lambda: committed_state(kafka, app_id, "c|default|c-erin"), 60,
             "the cart in the committed changelog")
    worker.kill()
    assert triggers(kafka, t.triggers["cart_abandoned"]) == []
    worker.start()
    wait_for(lambda: triggers(kafka, t.triggers["cart_abandoned"]), 60,
             "the abandonment after the restart")
    # the abandonment record commits in the same transaction as the trigger
    wait_for(lambda: committed_state(kafka, app_id, "a|default|c-erin"), 30,
             "the abandonment in the committed changelog")
    fired = triggers(kafka, t.triggers["cart_abandoned"])
    assert [f["cart_id"] for f in fired] == ["c-erin"]
    # and a second restart (graceful this time) does not fire it again: once the new
    # worker has restored every partition and processed ticks past the deadline, still one
    worker.stop()
    worker.start()
    ticks = settings.topic_partitions * 3
    wait_for(lambda: worker.metric("shopstream_live_ticks_total") >= ticks, 60,
             f"{ticks} ticks processed by the restarted worker")
    assert get_json(f"{worker.base_url}/live")["open_carts"] == 0
    assert [f["cart_id"] for f in triggers(kafka, t.triggers["cart_abandoned"])] == ["c-erin"]


def test_funnel_trending_customers_views_snapshot_tail_and_dashboard(settings, worker_factory,
                                                                     kafka):
    worker = worker_factory(SHOPSTREAM_FUNNEL_SNAPSHOT_S="1",
                            SHOPSTREAM_TRENDING_PUBLISH_S="1").start()
    t = settings.topics
    # alice shops from a desktop in the UK (enrichment: country and device of her order)
    google = {"sessionId": "s1", "campaign": {"source": "google", "medium": "cpc"},
              "ip": "81.2.69.142", "userAgent": DESKTOP_CHROME}
    order = {"order_id": "o1", "currency": "USD", "total": "20.00", "cart_id": "c1",
             "products": [{**product("p1", qty=2), "line_total": "20.00"}]}
    second = {**order, "order_id": "o2", "cart_id": "c9"}
    with Tracker(kafka, t.raw) as tracker:
        at = lambda seconds: T + timedelta(seconds=seconds)  # noqa: E731
        # the funnel, by hand: s1 every stage; s2 adds before viewing (visit, view);
        # carol sends no session id: 10 and 45 minutes apart make two sessions (visit, view)
        tracker.page("Home", {"path": "/"}, user_id="alice", context=google, timestamp=at(0))
        tracker.product_viewed("alice", product("p1"), context=google, timestamp=at(1))
        tracker.product_added("alice", product("p1", qty=2), "c1", context=google, timestamp=at(2))
        tracker.checkout_started("alice", {"cart_id": "c1", "currency": "USD"}, context=google,
                                 timestamp=at(3))
        tracker.order_completed("alice", order, context=google, timestamp=at(4))
        tracker.page("Home", {"path": "/"}, user_id="bob", context={"sessionId": "s2"},
                     timestamp=at(5))
        tracker.product_added("bob", product("p2", qty=1), "c2", context={"sessionId": "s2"},
                              timestamp=at(6))
        tracker.product_viewed("bob", product("p2"), context={"sessionId": "s2"}, timestamp=at(7))
        tracker.page("Home", {"path": "/"}, user_id="carol", timestamp=at(10))
        tracker.product_viewed("carol", product("p3"), timestamp=at(600))
        tracker.product_viewed("carol", product("p3"), timestamp=at(3300))
        tracker.flush()

    def funnel() -> dict:
        return {s["stage"]: s["sessions"]
                for s in get_json(f"{worker.base_url}/funnel?window=2h")["stages"]}

    expected = {"visit": 4, "product_view": 4, "add_to_cart": 1, "checkout": 1, "purchase": 1}
    wait_for(lambda: funnel() == expected, 60, f"/funnel to show {expected}")
    by_source = get_json(f"{worker.base_url}/funnel?window=2h")["by_source"]
    assert [s["sessions"] for s in by_source["google"]] == [1, 1, 1, 1, 1]
    assert [s["sessions"] for s in by_source["(direct)"]] == [3, 3, 0, 0, 0]
    # ... and the same counts in ClickHouse, from the minute snapshots
    sql = ("SELECT sum(visit) AS v, sum(product_view) AS pv, sum(add_to_cart) AS a, "
           "sum(checkout) AS c, sum(purchase) AS p FROM funnel_live WHERE tenant = 'default'")
    wait_for(lambda: (worker.sql_or_none(sql) or [{}])[0] == {"v": 4, "pv": 4, "a": 1, "c": 1,
                                                                  "p": 1}, 60,
             "the funnel snapshot in ClickHouse")

    # trending: alice's purchase (5) + add (3) + view (1) of p1 outrank carol's two views
    trending = wait_for(lambda: (lambda body: body if len(body["items"]) == 3 else None)(
        get_json(f"{worker.base_url}/trending?n=3")), 60, "/trending to list three products")
    assert [i["product_id"] for i in trending["items"]][:1] == ["p1"]
    assert get_json(f"{worker.base_url}/trending?category=shoes&n=2")["items"]
    assert get_json(f"{worker.base_url}/trending?category=hats")["items"] == []

    def published() -> dict:
        return {r.key.decode(): orjson.loads(r.value) for r in read_topic(kafka, t.trending)}

    wait_for(lambda: published().get("default|all", {}).get("items"), 60,
             "shop.trending to be published")
    assert published()["default|all"]["items"][0]["product_id"] == "p1"
    assert "default|category:shoes" in published()

    # customers: 3 days on, alice's order o1 gets its follow-up; her second order makes
    # her a returning customer; 30 quiet days later, a win-back
    with Tracker(kafka, t.raw) as tracker:
        tracker.page("Home", {"path": "/"}, user_id="alice",
                     timestamp=T + timedelta(days=3, minutes=1))
        tracker.order_completed("alice", second, timestamp=T + timedelta(days=3, minutes=2))
        tracker.page("Home", {"path": "/"}, user_id="alice",
                     timestamp=T + timedelta(days=33, minutes=3))
        tracker.flush()
    wait_for(lambda: triggers(kafka, t.triggers["winback"]), 60, "the win-back")
    follow_ups = triggers(kafka, t.triggers["post_purchase"])
    assert [f["order_id"] for f in follow_ups] == ["o1", "o2"]  # o2's came due on day 6
    follow_up = follow_ups[0]
    assert follow_up["user_id"] == "alice" and follow_up["time"] == "2026-03-04T10:00:04.000Z"
    [changed] = triggers(kafka, t.triggers["segment_changed"])
    assert (changed["old_segment"], changed["new_segment"], changed["orders"]) == (
        "new", "returning", 2)
    [winback] = triggers(kafka, t.triggers["winback"])
    assert winback["last_seen_at"] == "2026-03-04T10:02:00.000Z" and winback["orders"] == 2

    # the example consumer prints what an automation tool would receive
    tail = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", "triggers", "tail", "post_purchase",
         "--from-beginning", "--max", "1", "--idle-timeout", "30"], cwd=REPO, timeout=120,
        capture_output=True, env={**os.environ, "KAFKA_BOOTSTRAP": kafka,
                                  "SHOPSTREAM_TOPIC_PREFIX": settings.topic_prefix})
    assert tail.returncode == 0, tail.stderr
    [line] = tail.stdout.decode().splitlines()
    assert json.loads(line)["trigger_id"] == follow_up["trigger_id"]

    # revenue by country and by device, from ClickHouse: o1 from alice's UK desktop, o2 sent
    # without a context; another tenant's figures are apart
    expected_breakdown = {
        "country": [["(unknown)", 1, 20.0, 20.0], ["GB", 1, 20.0, 20.0]],
        "device": [["(unknown)", 1, 20.0, 20.0], ["desktop", 1, 20.0, 20.0]]}

    def breakdown(query: str = "") -> dict:
        return {by: [[row[0], row[1], float(row[2]), float(row[3])] for row in table["rows"]]
                for by, table in get_json(f"{worker.base_url}/revenue/breakdown{query}").items()}

    wait_until_equal(breakdown, expected_breakdown, 60, "/revenue/breakdown to show o1 and o2")
    assert breakdown("?tenant=elsewhere") == {"country": [], "device": []}

    # the dashboard: live data arrives over server-sent events and is drawn, again and again
    require_chromium()
    with Chromium(f"{worker.base_url}/") as page:
        def js(expression: str):
            return page.evaluate(expression)

        updates = "Number((document.getElementById('updates') || {}).textContent || 0)"
        wait_for(lambda: js(updates) >= 3, 60, "three server-sent updates drawn")
        text = lambda element: js(f"document.getElementById('{element}').textContent")  # noqa: E731
        assert text("as-of").startswith("2026-04-03") and text("tenant") == "default"
        # the same figures as the JSON views (nothing moves any more: all events are in)
        assert text("open-carts") == str(get_json(f"{worker.base_url}/live")["open_carts"])
        funnel_bars = js("[...document.querySelectorAll('#funnel rect')]"
                         ".map(r => Number(r.dataset.value))")
        hour = get_json(f"{worker.base_url}/funnel?window=1h")["stages"]
        assert funnel_bars == [stage["sessions"] for stage in hour]
        assert js("document.querySelectorAll('#trending rect').length") >= 1
        rows = js("[...document.querySelectorAll('#triggers tr')].map(r => r.textContent)")
        assert any("winback" in row for row in rows)
        assert any("new -> returning" in row for row in rows)
        counts = text("trigger-counts")
        assert "post_purchase 2" in counts and "segment_changed 1" in counts
        # the revenue by country and by device, as the endpoint gives them
        for by, rows in expected_breakdown.items():
            drawn = f"[...document.querySelectorAll('#by-{by} rect')].map(r => Number(r.dataset.value))"
            wait_until_equal(lambda drawn=drawn: js(drawn), [row[2] for row in rows], 60,
                             f"revenue by {by} drawn")
            labels = js(f"[...document.querySelectorAll('#by-{by} text')].map(t => t.textContent)")
            assert [row[0] for row in rows] == labels[0::2] and "20.00 (1 orders)" in labels[1]


def committed_keys(kafka: str, app_id: str) -> set[str]:
    latest = {}
    for record in read_topic(kafka, f"{app_id}-live-state-changelog"):
        latest[orjson.loads(record.key)] = record.value
    return {key for key, value in latest.items() if value is not None}


def test_pending_deadlines_survive_a_rebalance_and_a_crash(settings, kafka, tmp_path):
    """Carts on every partition; a second worker joins (partitions move), then the first
    is killed (they all move): every cart is abandoned exactly once."""
    t = settings.topics
    app_id = f"{settings.topic_prefix}shopstream"
    env = {"CART_ABANDON_AFTER": "25s", "SHOPSTREAM_SINK_ENABLED": "false",
           "SHOPSTREAM_SESSION_TIMEOUT_S": "6"}
    first = WorkerProcess(kafka, settings.topic_prefix, tmp_path / "a", env=env).start()
    second = WorkerProcess(kafka, settings.topic_prefix, tmp_path / "b", env=env)
    try:
        carts = [f"c-{i}" for i in range(12)]
        now = datetime.now(UTC)
        with Tracker(kafka, t.raw) as tracker:
            for i, cart in enumerate(carts):
                tracker.product_added(f"shopper-{i}", product("p1", qty=1), cart, timestamp=now)
            tracker.flush()
        wanted = {f"c|default|{cart}" for cart in carts}
        wait_for(lambda: wanted <= committed_keys(kafka, app_id), 60, "every cart committed")
        second.start()  # a rebalance: some partitions, and their pending carts, move

        def owned(worker: WorkerProcess) -> list[str]:
            health = get_json(f"{worker.base_url}/health")
            return [p for p in health["assigned_partitions"] if p.startswith(f"{t.events}:")]

        wait_for(lambda: owned(second) and owned(first), 60, "the partitions shared out")
        abandoned = lambda: triggers(kafka, t.triggers["cart_abandoned"])  # noqa: E731
        wait_for(lambda: len(abandoned()) >= len(carts), 90, "every cart abandoned")
        assert sorted(a["cart_id"] for a in abandoned()) == sorted(carts)
        done = {f"a|default|{cart}" for cart in carts}
        wait_for(lambda: done <= committed_keys(kafka, app_id), 30, "abandonments committed")
        first.kill()  # the survivor takes every partition over from the changelog
        wait_for(lambda: len(owned(second)) == settings.topic_partitions, 90,
                 "the survivor owning every partition")
        ticks = second.metric("shopstream_live_ticks_total")
        wait_for(lambda: second.metric("shopstream_live_ticks_total") >= ticks + 6, 60,
                 "ticks after the takeover")
        assert sorted(a["cart_id"] for a in abandoned()) == sorted(carts)
    finally:
        for worker in (first, second):
            if worker.process is not None:
                worker.kill()


def test_trending_with_two_workers_equals_trending_with_one(kafka, tmp_path):
    """Scores live with the products' owners (repartitioned by product): every worker's
    /trending is the whole shop's, whatever the number of workers."""
    lines = [e.to_bytes() for e in simulate(SimConfig(seed=13, rate=5, start=T, users=400,
                                                      products=60, malformed=0,
                                                      duplicates=0), 2500)]
    env = {"SHOPSTREAM_SINK_ENABLED": "false", "SHOPSTREAM_TRENDING_PUBLISH_S": "1",
           "SHOPSTREAM_SESSION_TIMEOUT_S": "6"}

    def ranked(worker: WorkerProcess) -> list[tuple[str, float]]:
        items = get_json(f"{worker.base_url}/trending?n=20")["items"]
        best = items[0]["score"] if items else 1.0  # decay scales all scores alike: compare ratios
        return [(i["product_id"], round(i["score"] / best, 6)) for i in items]

    views = {}
    for run, count in (("one", 1), ("two", 2)):
        prefix = f"t{uuid.uuid4().hex[:8]}-{run}."
        s = load_settings(kafka_bootstrap=kafka, topic_prefix=prefix, data_dir=tmp_path / run)
        ensure_topics(s, kafka)
        workers = [WorkerProcess(kafka, prefix, tmp_path / run / f"w{i}", env=env)
                   for i in range(count)]
        try:
            for worker in workers:
                worker.start()
            with Tracker(kafka, s.topics.raw) as tracker:
                for _n, key, value in jsonl_records(io.BytesIO(b"\n".join(lines)), 1 << 20):
                    tracker.send_raw(value, key)
                tracker.flush()
            wait_for(lambda workers=workers: sum(w.metric("shopstream_live_events_total")
                                                 for w in workers) >= len(lines),
                     120, f"every event through the live stage ({run})")
            for i, worker in enumerate(workers):
                views[(run, i)] = wait_until_stable(lambda worker=worker: ranked(worker), 90,
                                                    f"/trending of {run} worker {i}")
        finally:
            for worker in workers:
                worker.kill()
    assert len(views[("one", 0)]) == 20
    assert views[("two", 0)] == views[("one", 0)] == views[("two", 1)]
