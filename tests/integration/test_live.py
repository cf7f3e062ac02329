"""Live state on a real broker, through the worker: deterministic event-time scenarios
with exact expected triggers, a restart between a cart's last activity and its deadline,
the idle wall-clock advance, the live views, the ClickHouse funnel snapshot, the
trending topic, the trigger tail command, and the dashboard in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from streams.tracker import Tracker
from tests.support import REPO, read_topic, wait_for

pytestmark = pytest.mark.integration
T = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


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
