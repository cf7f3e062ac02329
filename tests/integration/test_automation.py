"""A simulated week through a real worker: triggers and dead letters land in ClickHouse
exactly once (across a SIGKILL), and ``report automation`` / ``report quality`` equal a
plain-Python computation over the topics themselves."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from models.ecommerce import EventName
from models.money import parse_money
from models.orders import order_amount
from models.settings import TRIGGER_KINDS
from models.times import parse_iso_ms
from models.validation import Rules, validate_bytes
from streams.sources.simulator import SimConfig, simulate
from tests.integration.test_sink import expected, produce, rows_count
from tests.support import REPO, read_topic, wait_for, wait_until_equal, wait_until_stable

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
FOLLOWUP_DAYS = 7
CUSTOMER_TRIGGERS = ("post_purchase", "winback", "segment_changed")


def simulated_week() -> list[bytes]:
    """A week of a small shop's traffic (150 shoppers, one event every 50 s), ending three
    weeks ago: carts abandoned, some recovered in later sessions, repeat orders."""
    start = (datetime.now(UTC) - timedelta(days=28)).replace(hour=0, minute=0, second=0,
                                                             microsecond=0)
    config = SimConfig(seed=14, rate=0.02, users=150, start=start)
    return [e.to_bytes() for e in simulate(config, int(7 * 86_400 * config.rate))]


def report(worker, name: str) -> list[dict[str, Any]]:
    env = {**os.environ, "SHOPSTREAM_DATA_DIR": str(worker.data_dir)}
    done = subprocess.run([sys.executable, "-m", "streams.cli.main", "report", name,
                           "--format", "json"], env=env, cwd=REPO, capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def median_or_none(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def expected_automation(triggers: dict[str, list[dict]], orders: dict[str, list[dict]]) -> list[dict]:
    rows: list[dict] = []
    recoveries = {t["abandoned_trigger_id"]: t for t in triggers["cart_recovered"]}
    carts: dict[str, list[dict]] = defaultdict(list)
    for t in triggers["cart_abandoned"]:
        carts[t["time"][:10]].append(t)
    for day, sent in carts.items():
        done = [recoveries[t["trigger_id"]] for t in sent if t["trigger_id"] in recoveries]
        rows.append({"day": day, "type": "cart_abandoned", "sent": len(sent),
                     "converted": len(done), "orders": len(done),
                     "revenue": sum((parse_money(r["recovered_revenue"]) for r in done), Decimal(0)),
                     "median_minutes": median_or_none([r["minutes_since_abandonment"] for r in done])})
    for kind in CUSTOMER_TRIGGERS:
        by_day: dict[str, list[dict]] = defaultdict(list)
        for t in triggers[kind]:
            by_day[t["time"][:10]].append(t)
        for day, sent in by_day.items():
            followed_orders: dict[str, Decimal] = {}
            first_minutes = []
            for t in sent:
                at = parse_iso_ms(t["time"])
                after = [o for o in orders[t["user_id"] or t["anonymous_id"]]
                         if 0 < o["ms"] - at <= FOLLOWUP_DAYS * DAY_MS]
                followed_orders.update({o["id"]: o["revenue"] for o in after})
                if after:
                    first_minutes.append(min(o["ms"] - at for o in after) / 60_000)
            rows.append({"day": day, "type": kind, "sent": len(sent),
                         "converted": len(first_minutes), "orders": len(followed_orders),
                         "revenue": sum(followed_orders.values(), Decimal(0)),
                         "median_minutes": median_or_none(first_minutes)})
    for row in rows:
        row["conversion_rate"] = round(row["converted"] / row["sent"], 4)
    return sorted(rows, key=lambda r: (r["day"], r["type"]))


def comparable(rows: list[dict]) -> list[dict]:
    """Report rows as the expectation writes them (money exact; medians to the cent)."""
    out = []
    for row in rows:
        row = dict(row)
        row["revenue"] = parse_money(row["revenue"])
        out.append(row)
    return out


def test_simulated_week_reports_equal_the_topics(settings, worker_factory, kafka):
    lines = simulated_week()
    n_events, _ = expected(lines)
    worker = worker_factory(SHOPSTREAM_WINBACK_AFTER_DAYS="2").start()
    produce(kafka, settings.topics.raw, lines)
    wait_for(lambda: (worker.sql_or_none("SELECT count() AS n FROM triggers") or [{"n": 0}])[0]["n"],
             90, "the first triggers in ClickHouse")
    worker.kill()  # the trigger sink resumes from its last commit: nothing lost or doubled
    worker.start()
    wait_until_equal(lambda: rows_count(worker), n_events, 120, f"{n_events} events in ClickHouse")

    def on_topics() -> dict[str, int]:
        return {kind: len(read_topic(kafka, settings.topics.triggers[kind])) for kind in TRIGGER_KINDS}

    counts = wait_until_stable(on_topics, 90, "the trigger topics")

    def in_clickhouse() -> dict[str, int]:
        rows = worker.sql("SELECT type, count() AS n, uniqExact(trigger_id) AS ids FROM triggers "
                          "GROUP BY type")
        assert all(r["n"] == r["ids"] for r in rows), f"a trigger written twice: {rows}"
        return {kind: next((r["n"] for r in rows if r["type"] == kind), 0) for kind in TRIGGER_KINDS}

    wait_until_equal(in_clickhouse, counts, 60, "every trigger in ClickHouse once")
    assert counts["cart_abandoned"] > 20 and counts["cart_recovered"] > 3, counts
    assert counts["post_purchase"] > 5 and counts["winback"] > 0, counts

    triggers = {kind: [orjson.loads(r.value) for r in read_topic(kafka, settings.topics.triggers[kind])]
                for kind in TRIGGER_KINDS}
    orders: dict[str, list[dict]] = defaultdict(list)
    events = [orjson.loads(r.value) for r in read_topic(kafka, settings.topics.events)]
    for e in events:
        if e.get("event") == EventName.ORDER_COMPLETED:
            orders[e.get("userId") or e.get("anonymousId")].append({
                "id": e["messageId"], "ms": parse_iso_ms(e["timestamp"]),
                "revenue": order_amount(e["event"], e.get("properties") or {})})
    want = expected_automation(triggers, orders)
    got = comparable(report(worker, "automation"))
    assert [{k: r[k] for k in r if k != "median_minutes"} for r in got] == \
        [{k: r[k] for k in r if k != "median_minutes"} for r in comparable(want)]
    for g, w in zip(got, want, strict=True):
        assert g["median_minutes"] == pytest.approx(w["median_minutes"], abs=0.011), (g, w)
    assert sum(r["sent"] for r in got if r["type"] == "cart_abandoned") == counts["cart_abandoned"]
    assert sum(r["converted"] for r in got if r["type"] == "cart_abandoned") == counts["cart_recovered"]

    # quality: the dead-letter topic and the events, counted here
    letters = [orjson.loads(r.value) for r in read_topic(kafka, settings.topics.dlq)]
    wait_until_equal(lambda: worker.sql("SELECT count() AS n FROM dead_letters")[0]["n"],
                     len(letters), 60, "every dead letter in ClickHouse")
    per_code: dict[tuple[str, str], set] = defaultdict(set)
    received: dict[str, int] = defaultdict(int)
    for letter in letters:
        day = letter["failed_at"][:10]
        per_code[(day, letter["reasons"][0]["code"])].add(
            (letter["stage"], letter["source"]["topic"], letter["source"]["partition"],
             letter["source"]["offset"]))
        received[day] += letter["stage"] == "validate"
    late: dict[str, int] = defaultdict(int)
    for e in events:
        received[e["receivedAt"][:10]] += 1
        late[e["receivedAt"][:10]] += parse_iso_ms(e["receivedAt"]) - parse_iso_ms(e["timestamp"]) > 300_000
    # duplicates: every valid input line beyond the first of its messageId, noted once each
    valid = sum(validate_bytes(line, Rules(), datetime.now(UTC)).ok for line in lines)
    notes = [orjson.loads(r.value) for r in read_topic(kafka, settings.topics.duplicates)]
    assert len(notes) == valid - n_events > 0, (len(notes), valid, n_events)
    copies: dict[str, int] = defaultdict(int)
    for note in notes:
        day = datetime.fromtimestamp(note["seen_at"] / 1000, UTC).strftime("%Y-%m-%d")
        copies[day] += 1
        received[day] += 1
    wait_until_equal(lambda: worker.sql("SELECT count() AS n FROM duplicates")[0]["n"],
                     len(notes), 60, "every duplicate noted in ClickHouse")
    want_quality = sorted(
        [{"day": day, "kind": "dead_letter", "code": code, "count": len(ids)}
         for (day, code), ids in per_code.items()]
        + [{"day": day, "kind": "late_event", "code": "", "count": n} for day, n in late.items() if n]
        + [{"day": day, "kind": "duplicate", "code": "", "count": n} for day, n in copies.items()],
        key=lambda r: (r["day"], r["kind"], r["code"]))
    for row in want_quality:
        row["rate"] = round(row["count"] / received[row["day"]], 6)
    assert report(worker, "quality") == want_quality
    assert sum(r["count"] for r in want_quality if r["kind"] == "dead_letter") >= 100
