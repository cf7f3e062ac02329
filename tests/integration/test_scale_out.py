"""Three workers on one broker, 12 partitions; one is SIGKILLed mid-stream and the other two
take its partitions over. What is checked:

- takeover: the killed worker owned partitions of every stage (validation, live, trending);
  afterwards the two survivors own all 12 of each, each partition once;
- ``shop.events``: every valid messageId of the input exactly once;
- ClickHouse: ``count()``, ``uniqExact(event_id)``, the set of ids and ``kpi_minute``'s
  ``sum(event_count)`` (a row inserted twice counts twice there) all equal the input's
  distinct messageIds;
- triggers: every trigger id published once, and the triggers up to each partition's latest
  event time equal, by (id, type, time), those of the pure live logic replayed offline over
  ``shop.events`` (the soak's reference, ``tests/soak/reference.py``);
- lag: ``shopstream_consumer_lag{group,topic,partition}`` of the survivors covers each of
  the live group's partitions once (a partition that moved is no longer reported by its
  former owner);
- ``/trending``: both survivors answer the whole shop's top 20, equal to the decayed scores
  computed offline from ``shop.events``.

Embedded ClickHouse (chDB) has one owner, so the sink runs in worker A only; B and C run
with the sink off, and C, the worker killed, is one of them. The sink's own takeover after
a SIGKILL is covered by ``test_sink.py`` and the soak (one worker, killed and restarted);
with a ClickHouse server every worker runs the sink and its consumer group spreads too.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime

import orjson
import pytest

from models.settings import load_settings
from streams.kafka.admin import ensure_topics
from streams.live.events import live_event
from streams.live.state import LiveConfig
from streams.live.trending import HOUR_MS, Trending, TrendWeights, trend_updates
from streams.monitoring.scrape import fetch_metrics
from streams.sdk.tracker import Tracker
from streams.sources.files import jsonl_records
from streams.sources.simulator import SimConfig, simulate
from tests.soak.reference import compare, replay
from tests.support import (
    Record,
    WorkerProcess,
    group_caught_up,
    read_topic,
    wait_for,
    wait_until_equal,
)

pytestmark = pytest.mark.integration

PARTITIONS = 12
STAGES = ("validate", "live", "trending")
# the soak's live durations: every trigger type fires within 50 minutes of event time
LIVE = {"CART_ABANDON_AFTER": "300", "post_purchase_after_days": 0.005,
        "winback_after_days": 0.01}
ENV = {
    "CART_ABANDON_AFTER": "300", "SHOPSTREAM_POST_PURCHASE_AFTER_DAYS": "0.005",
    "SHOPSTREAM_WINBACK_AFTER_DAYS": "0.01", "SHOPSTREAM_TOPIC_PARTITIONS": str(PARTITIONS),
    "SHOPSTREAM_SESSION_TIMEOUT_S": "6", "SHOPSTREAM_WORKER_PROCESSES": "1",
    "SHOPSTREAM_TRENDING_PUBLISH_S": "1", "SHOPSTREAM_RECO_SCHEDULE_ENABLED": "false",
    "SHOPSTREAM_SINK_MAX_BACKOFF_S": "5",
}
# a partition idles (its clock moving with the wall) while the kill's partitions wait for
# their new owner: a trigger that moves by it is excused only with a cancelling event this close
IDLE_WINDOW_MS = 60_000


def get_json(url: str):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # /health answers 503 with its body while a stage waits
        return json.loads(exc.read())


def owned(worker: WorkerProcess) -> dict[str, set[int]]:
    stages = get_json(f"{worker.base_url}/health")["stages"]
    return {stage: set(stages.get(stage, {}).get("partitions") or []) for stage in STAGES}


def shared_out(workers: list[WorkerProcess]) -> bool:
    """Each stage's 12 partitions owned once, by these workers together, each some."""
    views = [owned(w) for w in workers]
    return all(all(v[stage] for v in views)
               and sorted(p for v in views for p in v[stage]) == list(range(PARTITIONS))
               for stage in STAGES)


def send(kafka: str, topic: str, lines: list[bytes]) -> None:
    with Tracker(kafka, topic) as tracker:
        for _n, key, value in jsonl_records(io.BytesIO(b"\n".join(lines)), 1 << 20):
            tracker.send_raw(value, key)
        tracker.flush()


def trending_ratios(items: list[dict]) -> dict[str, float]:
    """Scores relative to the best (decay scales every score alike: ratios do not age), to
    4 places (the served scores are rounded to 6, and keep decaying)."""
    best = items[0]["score"] if items else 1.0
    return {i["product_id"]: round(i["score"] / best, 4) for i in items}


def offline_trending(events: list[Record], n: int = 20) -> dict[str, float]:
    book = Trending(half_life_ms=load_settings().trending_half_life_h * HOUR_MS)
    for record in events:
        for update in trend_updates(live_event(orjson.loads(record.value)), TrendWeights()):
            book.add(update.tenant, update.product, update.category, update.weight, update.ts)
    now = max(score.ref for score in book.scores.values())
    ranked = sorted(((s.at(now, book.half_life_ms), product) for (_t, product), s
                     in book.scores.items()), key=lambda x: (-x[0], x[1]))[:n]
    return trending_ratios([{"product_id": p, "score": s} for s, p in ranked])


@pytest.mark.timeout(360)
def test_three_workers_one_killed_stay_exact(kafka, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings = load_settings(kafka_bootstrap=kafka, topic_prefix=prefix, data_dir=tmp_path,
                             topic_partitions=PARTITIONS)
    ensure_topics(settings, kafka)
    topics, app = settings.topics, f"{prefix}{settings.app_id}"
    lines = [e.to_bytes() for e in simulate(SimConfig(
        seed=21, rate=2, start=datetime(2026, 3, 1, 10, tzinfo=UTC), users=600, products=80,
        malformed=0, duplicates=0.01), 6000)]
    ids = {(o.get("messageId") or o.get("message_id")) for o in map(orjson.loads, lines)}

    a = WorkerProcess(kafka, prefix, tmp_path / "a", env=ENV)  # owns the embedded ClickHouse
    b = WorkerProcess(kafka, prefix, tmp_path / "b", env={**ENV, "SHOPSTREAM_SINK_ENABLED": "false"})
    c = WorkerProcess(kafka, prefix, tmp_path / "c", env={**ENV, "SHOPSTREAM_SINK_ENABLED": "false"})
    workers = [a, b, c]
    try:
        for worker in workers:
            worker.start()
        wait_for(lambda: shared_out(workers), 120, "every stage's partitions shared by three")

        send(kafka, topics.raw, lines[: len(lines) // 2])
        wait_for(lambda: c.metric("shopstream_live_events_total") > 0, 120,
                 "the worker to be killed handling live events")
        killed = owned(c)
        assert all(killed[stage] for stage in STAGES), killed
        c.kill()
        send(kafka, topics.raw, lines[len(lines) // 2:])

        wait_for(lambda: shared_out([a, b]), 120, "the survivors owning every partition")
        for group, topic in ((f"{app}-validate", topics.raw), (f"{app}-live", topics.events),
                             (f"{app}-clickhouse-sink", topics.events),
                             (f"{app}-trending", topics.trending_updates)):
            wait_for(lambda g=group, t=topic: group_caught_up(kafka, g, t), 180,
                     f"{group} committed past every record of {topic}")

        def lag_partitions() -> list[int]:  # each reported by its owner only, per group
            return sorted(int(dict(labels)["partition"]) for w in (a, b) for labels in fetch_metrics(
                f"{w.base_url}/metrics").get("shopstream_consumer_lag", {})
                if dict(labels).get("group") == f"{app}-live")
        wait_until_equal(lag_partitions, list(range(PARTITIONS)), 60,
                         "the live group's lag reported once per partition")

        events = read_topic(kafka, topics.events)
        landed = [orjson.loads(r.value)["messageId"] for r in events]
        assert len(landed) == len(set(landed)) and set(landed) == ids, (
            f"shop.events: {len(landed)} records, {len(set(landed))} ids, {len(ids)} expected")

        wait_until_equal(lambda: a.sql("SELECT count() AS n, uniqExact(event_id) AS u FROM events"),
                         [{"n": len(ids), "u": len(ids)}], 60, "ClickHouse rows of every event once")
        assert {r["event_id"] for r in a.sql("SELECT event_id FROM events")} == ids
        assert a.sql("SELECT sum(event_count) AS n FROM kpi_minute") == [{"n": len(ids)}]

        live = load_settings(**LIVE)
        assert live.cart_abandon_after_s == 300  # the workers' durations, for the replay too
        reference = replay(events, LiveConfig.from_settings(live))
        reports = []

        def unexplained() -> list[tuple[str, str, list[int], str]]:
            published = [orjson.loads(r.value) for topic in topics.triggers.values()
                         for r in read_topic(kafka, topic)]
            reports.append(compare(published, reference, IDLE_WINDOW_MS))
            return [(t.type, t.user, sorted(reference.user_partitions.get(t.user, ())), t.time)
                    for t in reports[-1].unexplained]

        # the killed worker's open transaction holds read_committed readers of the partitions
        # it wrote until the broker aborts it (transaction.timeout.ms, 30 s): it never restarts
        wait_until_equal(unexplained, [], 120, "the triggers to equal the offline replay "
                         f"(killed worker's live partitions: {sorted(killed['live'])}; "
                         "listed: type, user, partitions, time)", every=3)
        report = reports[-1]
        assert report.duplicate_ids == {}
        assert report.reference >= 50 and report.by_type["cart_abandoned"][1] > 0, report.by_type
        assert report.by_type["cart_recovered"][1] > 0, report.by_type

        expected = offline_trending(events)

        def matches(seen: dict[str, float]) -> bool:
            return set(seen) == set(expected) and all(
                abs(seen[p] - expected[p]) <= 2e-4 for p in expected)

        for worker in (a, b):  # the partials of the killed worker's partitions are republished
            wait_until_equal(lambda w=worker: matches(trending_ratios(get_json(
                f"{w.base_url}/trending?n=20")["items"])) or trending_ratios(get_json(
                    f"{w.base_url}/trending?n=20")["items"]), True, 90,
                f"/trending of {worker.data_dir.name} to equal the offline top 20 {expected}")
    finally:
        for worker in workers:
            if worker.process is not None:
                worker.kill()
