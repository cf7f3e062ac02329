"""Erasure end to end, on the real broker and the real ClickHouse engine: two shoppers'
events through a worker; `privacy export` finds one of them; `privacy erase` removes her
from every table, rebuilds the rollups, tombstones her live state, and records the request;
a replay of the raw topic (the same records, and the same with new messageIds) does not
bring her back; the other shopper is untouched. Then, on a shop with a trained recommender:
an erased shopper gets no personal list from ``/recommendations`` and the next training
leaves them out; their canonical events produced to ``shop.events`` again reach neither
ClickHouse nor the live state."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from confluent_kafka import Producer

from models.erasure import PERSON_COLUMNS, identity_hash
from streams.app import faust_app_id
from streams.sdk.tracker import Tracker
from streams.stages.live import live_changelog
from tests.planted import planted, planted_events
from tests.support import REPO, group_caught_up, read_topic, wait_for

pytestmark = pytest.mark.integration
T = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
ALICE_IDS = ("alice", "anon-alice")


def cli(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SHOPSTREAM_DATA_DIR": str(settings.data_dir),
           "KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "SHOPSTREAM_TOPIC_PREFIX": settings.topic_prefix}
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args], env=env, cwd=REPO,
                          capture_output=True, timeout=600, check=False)


def shop(tracker: Tracker, user: str, anonymous: str, start: datetime, coupon: str) -> None:
    item = {"product_id": "p1", "price": "10.00", "quantity": 1, "currency": "USD"}
    tracker.page("Home", {"path": "/"}, anonymous_id=anonymous, timestamp=start - timedelta(days=3))
    tracker.track("Product Viewed", item, anonymous_id=anonymous, timestamp=start)
    tracker.identify(user, {"email": f"{user}@example.com"}, anonymous_id=anonymous,
                     timestamp=start + timedelta(minutes=1))
    tracker.product_added(user, item, f"cart-{user}", timestamp=start + timedelta(minutes=2))
    tracker.order_completed(user, {"order_id": f"o-{user}", "currency": "USD", "subtotal": "10.00",
                                   "total": "10.00", "coupon": coupon, "products": [item]},
                            timestamp=start + timedelta(minutes=3))
    tracker.product_added(user, {**item, "product_id": "p2"}, f"cart2-{user}",
                          timestamp=start + timedelta(minutes=4))  # left open in the live state


PERSON_TABLES = ("SELECT c.table AS t, groupArray(c.name) AS cols FROM system.columns AS c "
                 "JOIN system.tables AS s ON s.database = c.database AND s.name = c.table "
                 "WHERE c.database = currentDatabase() AND s.engine LIKE '%MergeTree' "
                 f"AND c.name IN {tuple(PERSON_COLUMNS)} GROUP BY t")


def rows_of(query, ids: tuple[str, ...]) -> dict[str, int]:
    """Rows holding any of ``ids`` in a person column, per table with such a column (found
    through system.columns, independently of the code under test); ``query`` runs SQL."""
    tables = query(PERSON_TABLES)
    counts = " UNION ALL ".join(
        f"SELECT '{t['t']}' AS t, count() AS n FROM {t['t']} WHERE "
        + " OR ".join(f"has({list(ids)}, {c})" for c in t["cols"]) for t in tables)
    return {r["t"]: r["n"] for r in query(counts)}


def merged(column: str, kind: str, engine: str) -> str:
    """A rollup column's value over a group of rows, whatever its kind and table engine."""
    if kind.startswith(("AggregateFunction(", "SimpleAggregateFunction(")):
        function = kind.split("(", 1)[1].split(",")[0].strip()
        if kind.startswith("Simple"):
            return f"{function}({column})"
        name, _, params = function.partition("(")
        return f"{name}Merge{'(' + params if params else ''}({column})"
    return f"sum({column})" if engine == "SummingMergeTree" else f"arraySort(groupUniqArray({column}))"


def rollups_match_raw(query) -> list[str]:
    """Each rollup compared with the same rollup recomputed, by its view's SELECT, from the
    raw rows there are now; the names of those that differ. ``query`` runs SQL."""
    views = query("SELECT name, as_select, create_table_query FROM system.tables "
                "WHERE database = currentDatabase() AND engine = 'MaterializedView'")
    targets: dict[str, list[str]] = {}
    for v in views:
        target = v["create_table_query"].split(" TO ", 1)[1].split(" ", 1)[0].split(".")[-1]
        targets.setdefault(target, []).append(v["as_select"])
    differ = []
    for target, selects in sorted(targets.items()):
        info = query(f"SELECT sorting_key, engine FROM system.tables WHERE database = "
                   f"currentDatabase() AND name = '{target}'")[0]
        keys = [k.strip() for k in info["sorting_key"].split(",")]
        columns = query(f"DESCRIBE {target}")
        values = [(c["name"], c["type"]) for c in columns if c["name"] not in keys]
        shown = ", ".join([*keys, *(f"{merged(n, k, info['engine'])} AS {n}" for n, k in values)])
        recomputed = " UNION ALL ".join(
            f"SELECT {', '.join(c['name'] for c in columns)} FROM ({s})" for s in selects)
        have = query(f"SELECT {shown} FROM {target} GROUP BY {', '.join(keys)} ORDER BY ALL")
        want = query(f"SELECT {shown} FROM ({recomputed}) GROUP BY {', '.join(keys)} "
                   "ORDER BY ALL")
        if have != want:
            differ.append(target)
    return differ


def replay(settings, kafka: str, new_ids: bool) -> int:
    records = read_topic(kafka, settings.topics.raw)
    producer = Producer({"bootstrap.servers": kafka})
    for r in records:
        value = orjson.loads(r.value)
        if new_ids:
            value["messageId"] = "replayed-" + value["messageId"]
        producer.produce(settings.topics.raw, orjson.dumps(value), r.key)
    assert producer.flush(30) == 0
    return sum(1 for r in records if set(ALICE_IDS) & {orjson.loads(r.value).get("userId"),
                                                       orjson.loads(r.value).get("anonymousId")})


def test_an_erased_shopper_is_gone_everywhere_and_stays_gone(settings, worker_factory, kafka, tmp_path):
    worker = worker_factory(SHOPSTREAM_CART_ABANDON_AFTER_S="30d").start()
    with Tracker(kafka, settings.topics.raw) as tracker:
        shop(tracker, "alice", "anon-alice", T, "SPRING")
        shop(tracker, "bob", "anon-bob", T + timedelta(seconds=20), "SPRING")
        tracker.flush()
    wait_for(lambda: worker.sql_or_none("SELECT count() AS n FROM events") == [{"n": 12}], 120,
             "both shoppers' events in ClickHouse")
    changelog = live_changelog(settings)

    def live_carts() -> dict[str, bytes | None]:
        latest: dict[str, bytes | None] = {}
        for r in read_topic(kafka, changelog):
            key = orjson.loads(r.key)
            if key.startswith("c|"):
                latest[key] = r.value
        return latest

    wait_for(lambda: {k for k, v in live_carts().items() if v} == {
        "c|default|cart2-alice", "c|default|cart2-bob"}, 120, "both open carts in the live state")
    bob_before = rows_of(worker.sql, ("bob", "anon-bob"))
    assert bob_before["events"] == 6 and bob_before["order_items"] == 1
    assert worker.stop() == 0  # the commands below need the embedded ClickHouse to themselves

    out = tmp_path / "alice.json"
    done = cli(settings, "privacy", "export", "--user", "alice", "--out", str(out),
               "--requested-by", "dpo@example.com")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    exported = orjson.loads(out.read_bytes())
    assert exported["ids"] == list(ALICE_IDS)  # the anonymous id found through her events
    assert len(exported["tables"]["events"]) == 6 and len(exported["tables"]["order_items"]) == 1
    # times as every output writes them: UTC, milliseconds, a Z
    assert all(re.fullmatch(r"2026-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["event_time"])
               for e in exported["tables"]["events"]), exported["tables"]["events"]

    done = cli(settings, "privacy", "erase", "--user", "alice", "--requested-by", "dpo@example.com")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    summary = json.loads(done.stdout)
    assert summary["rows_deleted"]["events"] == 6 and summary["rows_deleted"]["order_items"] == 1
    assert set(summary["rollups_rebuilt"]) >= {"kpi_minute", "product_daily", "coupon_daily", "page_daily"}

    # a backfill of her events (new messageIds) does not bring her back either; without the
    # broker, which holds the suppression list, it refuses to run
    backfill = tmp_path / "alice-again.jsonl"
    hers = [orjson.loads(r.value) for r in read_topic(kafka, settings.topics.raw)
            if orjson.loads(r.value).get("userId") in ALICE_IDS
            or orjson.loads(r.value).get("anonymousId") in ALICE_IDS]
    backfill.write_bytes(b"".join(orjson.dumps({**e, "messageId": f"again-{e['messageId']}"})
                                  + b"\n" for e in hers))
    done = cli(settings, "ingest", str(backfill))
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"ingested 0 events" in done.stderr and \
        f"{len(hers)} of erased people left out".encode() in done.stderr, done.stderr
    no_broker = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", "ingest", str(backfill)], cwd=REPO,
        env={**os.environ, "SHOPSTREAM_DATA_DIR": str(settings.data_dir), "KAFKA_BOOTSTRAP": ""},
        capture_output=True, timeout=600, check=False)
    assert no_broker.returncode == 2 and b"1 erasure(s)" in no_broker.stderr, no_broker.stderr

    # the worker back (it owns the embedded ClickHouse: the checks below ask it, a process
    # per query costs seconds); it has nothing new to write to ClickHouse
    worker.start()
    # (a) nothing of hers in any table; (b) every rollup equals its recomputation from raw rows
    left = rows_of(worker.sql, ALICE_IDS)
    assert set(left.values()) == {0}, left
    assert rollups_match_raw(worker.sql) == []
    assert worker.sql("SELECT sum(orders) AS n FROM coupon_daily WHERE coupon = 'SPRING'") == [{"n": 1}]
    # (d) the other shopper untouched
    assert rows_of(worker.sql, ("bob", "anon-bob")) == bob_before
    # (e) the request is audited, without her id in clear
    audit = worker.sql("SELECT * FROM privacy_requests ORDER BY requested_at")
    assert [(a["action"], a["requested_by"]) for a in audit] == [
        ("export", "dpo@example.com"), ("erase", "dpo@example.com")]
    assert audit[1]["subject_hash"] == identity_hash("default", "alice")
    assert audit[1]["rows"]["events"] == 6
    assert not any(i in json.dumps(audit) for i in ALICE_IDS)
    erased = {r.key.decode() for r in read_topic(kafka, settings.topics.erased)}
    assert erased == {identity_hash("default", i) for i in ALICE_IDS}

    # (c) her open cart is tombstoned; a replay of the raw topic, as it was and with new
    # messageIds, does not bring her back
    wait_for(lambda: live_carts().get("c|default|cart2-alice", b"") is None, 120,
             "alice's open cart tombstoned in the live changelog")
    assert live_carts()["c|default|cart2-bob"] is not None
    replayed = replay(settings, kafka, new_ids=False) + replay(settings, kafka, new_ids=True)
    wait_for(lambda: worker.metric("shopstream_erased_events_total") >= replayed, 120,
             f"the {replayed} replayed events of hers dropped")
    wait_for(lambda: group_caught_up(kafka, f"{faust_app_id(settings)}-validate",
                                     settings.topics.raw), 120, "validation caught up")
    wait_for(lambda: worker.sql_or_none("SELECT count() AS n FROM events") == [{"n": 6}], 120,
             "only bob's six events (his replays are duplicates)")
    assert set(rows_of(worker.sql, ALICE_IDS).values()) == {0}


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def test_an_erased_shopper_gets_no_personal_list_and_their_events_are_not_written_again(
        settings, worker_factory, kafka, tmp_path):
    source = tmp_path / "planted.jsonl"
    inter, _groups = planted(groups=4, users_per_group=20, items_per_group=12, per_user=20,
                             in_group=0.9)
    events = planted_events(inter)
    source.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    erased, theirs = "u000001", sum(1 for e in events if e["userId"] == "u000001")
    worker = worker_factory(SHOPSTREAM_RECO_SCHEDULE_ENABLED="false", SHOPSTREAM_RECO_FACTORS="16",
                            SHOPSTREAM_RECO_ITERATIONS="10",
                            SHOPSTREAM_CART_ABANDON_AFTER_S="30d").start()
    produced = cli(settings, "produce", str(source))
    assert produced.returncode == 0, produced.stderr.decode()[-2000:]
    wait_for(lambda: worker.sql_or_none("SELECT count() AS n FROM events") == [{"n": len(events)}],
             180, f"the {len(events)} planted events in ClickHouse")
    trained = cli(settings, "recommender", "train", "--holdout", "6d", "--format", "json")
    assert trained.returncode == 0, trained.stderr.decode()[-2000:]
    personal = get_json(f"{worker.base_url}/recommendations/{erased}?n=5")
    assert personal["source"] == "model" and len(personal["items"]) == 5, personal
    assert worker.sql(f"SELECT count() AS n FROM recommendations WHERE user_key = '{erased}'") \
        != [{"n": 0}]  # published for them
    assert worker.stop() == 0

    done = cli(settings, "privacy", "erase", "--user", erased)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert json.loads(done.stdout)["rows_deleted"]["events"] == theirs
    worker.start()

    # serving: the model still holds their factors, but the answer is a stranger's
    stranger = get_json(f"{worker.base_url}/recommendations/never-seen?n=5")
    answer = get_json(f"{worker.base_url}/recommendations/{erased}?n=5")
    assert stranger["source"] == "trending" and len(stranger["items"]) == 5, stranger
    assert answer == {**stranger, "user": erased}
    assert get_json(f"{worker.base_url}/recommendations/u000002?n=5")["source"] == "model"

    # the next training does not see them, and publishes nothing for them
    evaluated = cli(settings, "recommender", "evaluate", "--holdout", "6d", "--format", "json")
    assert evaluated.returncode == 0, evaluated.stderr.decode()[-2000:]
    assert orjson.loads(evaluated.stdout)["n_users"] == 79
    trained = cli(settings, "recommender", "train", "--holdout", "6d", "--format", "json")
    assert trained.returncode == 0, trained.stderr.decode()[-2000:]
    assert worker.sql(f"SELECT count() AS n FROM recommendations WHERE user_key = '{erased}'") \
        == [{"n": 0}]
    assert worker.sql("SELECT count() AS n FROM recommendations WHERE user_key = 'u000002'") \
        != [{"n": 0}]

    # their canonical events produced to shop.events again (as a consumer-group reset would
    # read them): the sink drops them, the live state does not take them in
    canonical = [r for r in read_topic(kafka, settings.topics.events)
                 if orjson.loads(r.value).get("userId") == erased]
    assert len(canonical) == theirs
    producer = Producer({"bootstrap.servers": kafka})
    for r in canonical:
        producer.produce(settings.topics.events, r.value, r.key)
    assert producer.flush(30) == 0
    wait_for(lambda: worker.metric("shopstream_sink_dropped_total", table="events") >= theirs,
             120, f"the sink to drop their {theirs} events")
    app = faust_app_id(settings)
    for group in (f"{app}-clickhouse-sink", f"{app}-live"):
        wait_for(lambda g=group: group_caught_up(kafka, g, settings.topics.events), 120,
                 f"{group} caught up")
    assert worker.sql(f"SELECT count() AS n FROM events WHERE user_key = '{erased}'") == [{"n": 0}]
    assert worker.sql("SELECT count() AS n FROM events") == [{"n": len(events) - theirs}]
    assert worker.stop() == 0  # the live stage commits what it holds
    latest: dict[str, bytes | None] = {}
    for r in read_topic(kafka, live_changelog(settings)):
        latest[orjson.loads(r.key)] = r.value
    kept = {k for k, v in latest.items() if erased in k and v is not None}
    assert kept == set(), kept
    assert latest.get("u|default|u000002") is not None  # another shopper's record is there
