"""The recommender against the real ClickHouse engine: train from the tables, the
promotion gate, rollback, serving edge cases; and through a running worker with a
real broker: the CLI routed to the worker, the HTTP endpoints, and the compacted
``shop.recommendations`` topic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from models.serde import dumps
from models.settings import load_settings
from recommender.job import SplitChoice
from recommender.ranking import METRICS
from recommender.registry import Registry
from recommender.runner import JobRunner
from recommender.serving import NotFound, RecommendationService
from sinks.writer import ClickHouseWriter
from streams.sources.ingest import ingest
from streams.stages.validation import rules_from
from tests.planted import planted, planted_events, planted_repeat
from tests.support import REPO, read_topic, wait_for


def write_planted(path: Path, **shape: int) -> list[dict]:
    inter, _ = planted(**shape)
    events = planted_events(inter)
    path.write_bytes(b"".join(dumps(e) + b"\n" for e in events))
    return events


@pytest.fixture
def shop(clickhouse, chdb_url, tmp_path):
    """Planted groups ingested into ClickHouse; a runner and a service on that database."""
    settings = load_settings(clickhouse_url=chdb_url, clickhouse_database=clickhouse.database,
                             data_dir=tmp_path / "data", reco_factors=16, reco_iterations=10)
    source = tmp_path / "planted.jsonl"
    write_planted(source, groups=6, users_per_group=30, items_per_group=15, in_group=0.9)
    summary = ingest(source, "jsonl", ClickHouseWriter(clickhouse), rules_from(settings),
                     tmp_path / "dead.jsonl")
    assert summary.invalid == 0
    runner = JobRunner(lambda: clickhouse, settings)
    return settings, runner, RecommendationService(lambda: clickhouse, settings), clickhouse


def test_train_gate_rollback_and_serving(shop):
    settings, runner, service, client = shop
    lines: list[str] = []
    first = runner.train(None, SplitChoice("6d"), lines.append)
    assert first["status"] == "active" and first["version"] == 1
    evaluation = first["evaluation"]
    assert set(evaluation) >= {"model", "baselines", "n_users", "n_items", "n_test_users"}
    assert evaluation["n_users"] == 180 and evaluation["n_items"] == 90
    assert evaluation["model"]["precision@10"] > evaluation["baselines"]["popularity"]["precision@10"]
    assert any("selecting a model" in line for line in lines)  # progress while it searches
    assert any("] item_knn(weighting=bm25" in line for line in lines)
    winner = evaluation["selected"]
    assert winner["family"] in {"als", "item_knn", "content"}, winner
    listed = {m["version"]: m for m in runner.models(None)}[1]
    assert listed["model"] == winner["name"] and listed["candidates"]
    assert any(c["status"] == "winner" and c["name"] == winner["name"]
               for c in listed["candidates"])
    assert Path(settings.model_registry / "default" / "v1" / "scorer.npz").is_file()
    published = client.query("SELECT count(), uniqExact(user_key), max(version) "
                             "FROM recommendations FINAL").result_rows[0]
    assert published[0] == published[1] > 0 and published[2] == 1

    # a model that cannot beat popularity (popularity itself, the only family allowed): the
    # gate rejects it, v1 stays active
    crippled = JobRunner(runner.database, settings.model_copy(
        update={"reco_candidates": "popularity", "reco_gate_tolerance": 0.0}), None)
    second = crippled.train(None, SplitChoice("6d"), lambda _: None)
    assert second["version"] == 2 and second["status"] == "rejected", second
    statuses = {m["version"]: m["status"] for m in runner.models(None)}
    assert statuses == {1: "active", 2: "rejected"}

    # forcing v2 by hand, then rolling back to v1
    runner.activate(None, 2, lambda _: None)
    assert {m["version"]: m["status"] for m in runner.models(None)} == {1: "retired", 2: "active"}
    runner.activate(None, 1, lambda _: None)
    assert Registry(client, settings.model_registry, "default").active().version == 1
    with pytest.raises(Exception, match="no model version 9"):
        runner.activate(None, 9, lambda _: None)

    # serving: a known user gets products of their group, none they bought
    user = "u000000"  # group 0: products p00000..p00014
    answer = service.recommend(user, 10)
    assert answer["source"] == "model" and answer["version"] == 1
    bought = {r[0] for r in client.query(
        "SELECT product_id FROM order_items WHERE user_key = {u:String}",
        parameters={"u": user}).result_rows}
    got = [item["product_id"] for item in answer["items"]]
    assert len(got) == 10 and not set(got) & bought
    in_group = sum(1 for p in got if int(p[1:]) < 15)
    assert in_group >= 7, got
    # an unknown user gets trending products overall; a new shopper who looked at a
    # category gets that category's trending products
    cold = service.recommend("stranger", 5)
    assert cold["source"] == "trending" and len(cold["items"]) == 5
    latest = client.query("SELECT max(event_time) FROM events").result_rows[0][0]
    client.insert("events", [["default", "x1", "track", "Product Viewed", latest, "newbie",
                              "p00050", "cat3"]],
                  column_names=["tenant", "event_id", "type", "event", "event_time", "user_key",
                                "product_id", "category"])
    newbie = service.recommend("newbie", 5)
    assert newbie["source"] == "trending in cat3"
    assert all(45 <= int(i["product_id"][1:]) < 60 for i in newbie["items"]), newbie
    # similar products: the same group; unknown products are a clear 404-style error
    answer = service.similar("p00007", 5)
    assert answer["source"] == "model"
    similar = [i["product_id"] for i in answer["items"]]
    assert "p00007" not in similar and len(similar) == 5
    assert sum(1 for p in similar if int(p[1:]) < 15) >= 4, similar
    with pytest.raises(NotFound, match="unknown product"):
        service.similar("no-such-product")
    # a product newer than the model: the model's products like it (category, brand, price)
    client.insert("events", [["default", "x2", "track", "Product Viewed", latest, "newbie",
                              "p-new", "cat3"]],
                  column_names=["tenant", "event_id", "type", "event", "event_time", "user_key",
                                "product_id", "category"])
    fresh = service.similar("p-new", 3)
    assert fresh["source"] == "content" and len(fresh["items"]) == 3
    assert all(45 <= int(i["product_id"][1:]) < 60 for i in fresh["items"]), fresh


def test_evaluate_leave_last_k_has_the_documented_shape(shop):
    _settings, runner, _service, _client = shop
    result = runner.evaluate(None, SplitChoice(leave_last=2), lambda _: None)
    assert result["split"].startswith("leave-last-2")
    encoded = json.loads(dumps(result))
    assert set(encoded["baselines"]) == {"popularity", "recent_popularity"}
    for scores in (encoded["model"], *encoded["baselines"].values()):
        assert set(scores) == set(METRICS)
    assert set(encoded["slices"]) == {"cold_users", "heavy_users", "cold_items"}
    for body in encoded["slices"].values():
        assert set(body) == {"users", "model", "popularity", "recent_popularity"}
    assert encoded["repeat"]["setting"] == "auto" and encoded["repeat"]["applied"] is False
    assert "re-buy" in encoded["repeat"]["reason"]
    assert encoded["selected"]["reason"] and encoded["selection"]["candidates"]
    # every planted shopper has more than 2 products; a few held out only what they had bought
    assert 150 <= encoded["n_test_users"] <= 180
    assert encoded["model"]["ndcg@10"] > encoded["baselines"]["popularity"]["ndcg@10"]


def ingest_events(client, settings, events: list[dict], path: Path) -> None:
    path.write_bytes(b"".join(dumps(e) + b"\n" for e in events))
    summary = ingest(path, "jsonl", ClickHouseWriter(client), rules_from(settings),
                     path.with_suffix(".dead"))
    assert summary.invalid == 0


def test_versions_skip_folders_on_disk_and_a_mismatch_is_a_clear_error(shop, chdb_url, tmp_path):
    """Two databases sharing one data directory: each training takes a version no folder has
    (it crashed with 'Directory not empty' before); a folder holding another training than
    the database's row is refused with a clear error, not served."""
    import uuid

    from models.errors import ShopstreamError
    from sinks.connection import connect
    from sinks.migrations import migrate

    settings, runner, _service, _client = shop
    fast = settings.model_copy(update={"reco_candidates": "item_knn"})
    first = JobRunner(runner.database, fast).train(None, SplitChoice("6d"), lambda _: None)
    assert first["version"] == 1
    other = connect(chdb_url, f"test_{uuid.uuid4().hex[:10]}")
    try:
        migrate(other)
        ingest_events(other, settings, planted_events(planted(
            groups=3, users_per_group=20, items_per_group=10)[0]), tmp_path / "other.jsonl")
        second = JobRunner(lambda: other, fast).train(None, SplitChoice("6d"), lambda _: None)
        assert second["version"] == 2, second  # v1's folder belongs to the first database
        third = JobRunner(runner.database, fast).train(None, SplitChoice("6d"), lambda _: None)
        assert third["version"] == 3
        folders = sorted(p.name for p in (settings.model_registry / "default").iterdir())
        assert folders == ["v1", "v2", "v3"]
        # v2's folder replaced by another installation's model: refused, with the reason
        meta = settings.model_registry / "default" / "v2" / "meta.json"
        meta.write_text(meta.read_text().replace(second_trained_at(other), "2020-01-01T00:00:00.000Z"))
        registry = Registry(other, settings.model_registry, "default")
        with pytest.raises(ShopstreamError, match="do not belong together"):
            registry.load(registry.get(2))
    finally:
        other.command(f"DROP DATABASE IF EXISTS `{other.database}`")


def second_trained_at(client) -> str:
    registry = Registry(client, Path("unused"), "default")
    return registry.get(2).summary()["trained_at"]


def test_ab_split_serves_both_variants_and_reports_outcomes(shop):
    settings, runner, _service, client = shop
    assert runner.train(None, SplitChoice("6d"), lambda _: None)["status"] == "active"
    challenger = JobRunner(runner.database, settings.model_copy(  # rejected by the gate
        update={"reco_candidates": "popularity", "reco_gate_tolerance": 0.0}))
    second = challenger.train(None, SplitChoice("6d"), lambda _: None)
    assert second["version"] == 2
    with pytest.raises(Exception, match="no A/B test"):
        runner.ab_report(None, lambda _: None)
    started = runner.ab_start(None, 2, lambda _: None)
    assert started["status"] == "testing"
    with pytest.raises(Exception, match="being tested"):
        runner.ab_start(None, 2, lambda _: None)

    service = RecommendationService(lambda: client, settings)
    users = [f"u{u:06d}" for u in range(180)]
    answers = {u: service.recommend(u, 5) for u in users}
    variants = {u: a["variant"] for u, a in answers.items()}
    ours = [u for u, v in variants.items() if v == "candidate"]
    theirs = [u for u, v in variants.items() if v == "control"]
    assert 50 < len(ours) < 130 and len(ours) + len(theirs) == 180  # share 0.5
    assert all(answers[u]["version"] == 2 for u in ours)
    assert all(answers[u]["version"] == 1 for u in theirs)
    assert all(service.recommend(u, 5)["variant"] == variants[u] for u in users[:20])

    # outcomes: candidate shoppers click their first recommendation, a third of them buy
    # it; control shoppers click something they were not recommended
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC) + timedelta(seconds=1)
    events = []
    for n, user in enumerate(ours):
        product = answers[user]["items"][0]["product_id"]
        events.append({"type": "track", "event": "Product Clicked", "userId": user,
                       "messageId": f"ab-c-{n}", "timestamp": now.isoformat(),
                       "properties": {"product_id": product}})
        if n % 3 == 0:
            events.append({"type": "track", "event": "Order Completed", "userId": user,
                           "messageId": f"ab-o-{n}", "timestamp": now.isoformat(),
                           "properties": {"order_id": f"ab{n}", "currency": "USD",
                                          "total": "10.00", "subtotal": "10.00",
                                          "products": [{"product_id": product, "price": "10.00",
                                                        "quantity": 1}]}})
    for n, user in enumerate(theirs):
        events.append({"type": "track", "event": "Product Clicked", "userId": user,
                       "messageId": f"ab-x-{n}", "timestamp": now.isoformat(),
                       "properties": {"product_id": "p-not-recommended"}})
    ingest_events(client, settings, events, Path(settings.data_dir) / "ab.jsonl")
    report = runner.ab_report(None, lambda _: None)
    candidate, control = report["variants"]["candidate"], report["variants"]["control"]
    assert candidate["shoppers"] == len(ours) and control["shoppers"] == len(theirs)
    assert candidate["clicked"]["count"] == len(ours)
    assert candidate["purchased"]["count"] == len(range(0, len(ours), 3))
    assert control["clicked"]["count"] == 0 and control["purchased"]["count"] == 0
    low, high = candidate["purchased"]["ci95"]
    assert low < candidate["purchased"]["rate"] < high
    assert report["version"] == 2 and report["control"] == 1

    stopped = runner.ab_stop(None, lambda _: None)
    assert stopped["status"] == "rejected"  # back to what the gate made of it
    assert "variant" not in RecommendationService(lambda: client, settings).recommend(users[0])
    assert runner.ab_report(None, lambda _: None)["stopped_at"] is not None


def test_repeat_purchases_on_a_grocer(clickhouse, chdb_url, tmp_path):
    """A shop whose shoppers re-buy staples: auto applies repeat purchases, the evaluation
    says why, buy again wins, and serving recommends what the shopper bought before."""
    settings = load_settings(clickhouse_url=chdb_url, clickhouse_database=clickhouse.database,
                             data_dir=tmp_path / "data", reco_factors=16, reco_iterations=10)
    inter = planted_repeat(users=200)
    ingest_events(clickhouse, settings, planted_events(inter, tenant="grocer"),
                  tmp_path / "grocer.jsonl")
    runner = JobRunner(lambda: clickhouse, settings)
    result = runner.train("grocer", SplitChoice("auto"), lambda _: None)
    evaluation = result["evaluation"]
    assert evaluation["repeat"]["applied"] is True, evaluation["repeat"]
    assert "re-buying is common" in evaluation["repeat"]["reason"]
    assert evaluation["selected"]["family"] in {"buy_again", "blend"}, evaluation["selected"]
    assert result["status"] == "active"
    service = RecommendationService(lambda: clickhouse, settings)
    answer = service.recommend("u000000", 3, tenant="grocer")
    bought = {r[0] for r in clickhouse.query(
        "SELECT product_id FROM order_items WHERE tenant = 'grocer' AND user_key = 'u000000'"
    ).result_rows}
    assert answer["source"] == "model" and {i["product_id"] for i in answer["items"]} <= bought
    # the same shop with repeat purchases off for it: nothing bought is recommended
    never = JobRunner(lambda: clickhouse, settings.model_copy(
        update={"reco_repeat": "grocer=never"}))
    off = never.evaluate("grocer", SplitChoice("auto"), lambda _: None)
    assert off["repeat"]["applied"] is False and off["repeat"]["setting"] == "never"


def shopstream(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args], capture_output=True,
                          env={**os.environ, **env}, timeout=timeout, cwd=REPO)


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.integration
def test_worker_schedule_cli_endpoints_and_topic(settings, worker_factory, kafka, tmp_path):
    source = tmp_path / "planted.jsonl"
    events = write_planted(source, groups=4, users_per_group=20, items_per_group=12, per_user=20,
                           in_group=0.9)
    orders = sum(1 for e in events if e["event"] == "Order Completed")
    # the schedule trains once every order is in ClickHouse (the order threshold), not before
    worker = worker_factory(SHOPSTREAM_RECO_RETRAIN_AFTER_ORDERS=str(orders),
                            SHOPSTREAM_RECO_SCHEDULE_CHECK_S="1", SHOPSTREAM_RECO_FACTORS="16",
                            SHOPSTREAM_RECO_ITERATIONS="10").start()
    env = {"KAFKA_BOOTSTRAP": kafka, "SHOPSTREAM_TOPIC_PREFIX": settings.topic_prefix,
           "SHOPSTREAM_DATA_DIR": str(settings.data_dir)}
    produced = shopstream("produce", str(source), env=env)
    assert produced.returncode == 0, produced.stderr

    def models() -> list[dict]:
        return get_json(f"{worker.base_url}/recommender/models")[1]

    wait_for(lambda: models() and models()[0]["status"] == "active", 120,
             f"the schedule to train a model once {orders} orders are in ({worker.log_path})")
    assert [m["version"] for m in models()] == [1]

    # the CLI runs the job on the worker (it owns embedded ClickHouse) and prints its progress
    trained = shopstream("recommender", "train", "--holdout", "6d", "--format", "json", env=env)
    assert trained.returncode == 0, trained.stderr
    assert b"running on the worker" in trained.stderr and b"selecting a model" in trained.stderr
    result = orjson.loads(trained.stdout)
    assert result["version"] == 2 and result["status"] in {"active", "rejected"}
    evaluated = shopstream("recommender", "evaluate", "--leave-last", "2", "--format", "json",
                           env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    evaluation = orjson.loads(evaluated.stdout)
    assert evaluation["n_users"] == 80 and evaluation["n_items"] == 48
    assert set(evaluation["baselines"]) == {"popularity", "recent_popularity"}
    listed = shopstream("recommender", "list", env=env)
    assert listed.returncode == 0 and b"(2 rows)" in listed.stdout, listed.stdout

    # endpoints
    status, answer = get_json(f"{worker.base_url}/recommendations/u000001?n=5")
    assert status == 200 and answer["source"] == "model" and len(answer["items"]) == 5
    status, answer = get_json(f"{worker.base_url}/recommendations/nobody?n=3")
    assert status == 200 and answer["source"] == "trending" and len(answer["items"]) == 3
    status, answer = get_json(f"{worker.base_url}/similar/p00003?n=4")
    assert status == 200 and len(answer["items"]) == 4
    status, answer = get_json(f"{worker.base_url}/similar/nothing-like-it")
    assert status == 404 and "unknown product" in answer["error"]

    # published: one message per recently active user, keyed by user, on the compacted topic
    records = read_topic(kafka, settings.topics.recommendations)
    latest = {}
    for record in records:
        latest[record.key.decode()] = orjson.loads(record.value)
    assert latest, "nothing published to shop.recommendations"
    some_user, message = next(iter(latest.items()))
    assert message["user"] == some_user and message["tenant"] == "default"
    assert 0 < len(message["items"]) <= settings.reco_publish_n
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": kafka})
    resource = ConfigResource("topic", settings.topics.recommendations)
    config = admin.describe_configs([resource])[resource].result(30)
    assert config["cleanup.policy"].value == "compact"


def test_bot_views_do_not_make_a_product_trend(shop):
    _settings, _runner, service, client = shop
    latest = client.query("SELECT max(event_time) FROM events").result_rows[0][0]
    rows = [["default", f"{who}-{i}", "track", "Product Viewed", latest, f"{who}-{i % 3}",
             product, "cat9", bot]
            for who, product, bot in (("crawler", "p_bot", 1), ("person", "p_human", 0))
            for i in range(60)]  # far more views than any planted product has lately
    client.insert("events", rows, column_names=["tenant", "event_id", "type", "event",
                                                "event_time", "user_key", "product_id",
                                                "category", "is_bot"])
    top = [product for product, _score in service.trending("default", 5)]
    assert top[0] == "p_human" and "p_bot" not in top, top
