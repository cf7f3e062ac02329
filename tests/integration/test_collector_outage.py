"""Kafka stopped for 30 s while clients post to the collector: every request is answered 200
(and then its events are in the raw topic) or 503 with Retry-After, never anything else; after
Kafka returns nothing answered 200 is missing. The test owns a broker of its own to stop."""

from __future__ import annotations

import threading
import time
from collections import Counter

import orjson
import pytest

from models.keys import Role
from models.settings import load_settings
from streams.cli.keys import create_key
from streams.kafka.admin import ensure_topics
from streams.kafka.follower import TopicFollower
from tests.integration.test_collector import CollectorProcess, basic, post_status
from tests.soak.broker import SoakBroker
from tests.support import read_topic, wait_for

pytestmark = pytest.mark.integration
OUTAGE_S = 30


def test_no_request_is_answered_200_unless_its_events_are_stored(tmp_path, monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)  # a broker of its own, to stop
    broker = SoakBroker(tmp_path / "broker").start()
    collector = None
    followers: list[TopicFollower | None] = [None]  # stopped however the test ends
    try:
        settings = load_settings(kafka_bootstrap=broker.bootstrap, topic_prefix="outage.",
                                 data_dir=tmp_path / "data")
        ensure_topics(settings, broker.bootstrap)
        key, _ = create_key(settings, broker.bootstrap, "shop-a", Role.WRITE, rate=1_000_000)
        collector = CollectorProcess(broker.bootstrap, "outage.", tmp_path / "collector.log",
                                     env={"SHOPSTREAM_COLLECTOR_ACK_TIMEOUT_S": "3"}).start()
        answers: list[tuple[int, list[str], str | None]] = []
        stop = threading.Event()
        lock = threading.Lock()

        def client(number: int) -> None:
            sent = 0
            while not stop.is_set():
                ids = [f"c{number}-{sent}-{i}" for i in range(10)]
                sent += 1
                body = orjson.dumps({"batch": [
                    {"type": "track", "event": "Product Viewed", "userId": f"u{number}",
                     "messageId": mid, "properties": {"product_id": "p1"}} for mid in ids]})
                try:
                    status, _, head = post_status(f"{collector.url}/v1/batch", body, basic(key))
                except OSError as exc:  # no answer at all would fail the test below
                    status, head = -1, {"error": str(exc)}
                with lock:
                    answers.append((status, ids, head.get("Retry-After")))
                time.sleep(0.05)

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(4)]
        for thread in threads:
            thread.start()
        wait_for(lambda: sum(1 for a in answers if a[0] == 200) >= 20, 60,
                 "clients to get answers before the outage")
        # a follower of a compacted topic (the keys), loaded before the outage: it must
        # report the broker's absence (librdkafka's error callback, not consume()) and clear
        # it once the broker is back, though the topic stays quiet
        follower = followers[0] = TopicFollower(broker.bootstrap, settings.topics.keys, lambda k, v: None,
                                 "keys (outage test)").start()
        follower.wait_loaded(60)
        follower_errors: list[str] = []

        def watch() -> None:
            while not stop.is_set():
                if follower.error:
                    follower_errors.append(follower.error)
                time.sleep(0.2)  # a sampling interval, not a wait for a condition

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        broker.restart(OUTAGE_S)  # down for 30 s, then up again on the same port and data
        after = len(answers)
        wait_for(lambda: sum(1 for a in answers[after:] if a[0] == 200) >= 20, 180,
                 f"200s again after Kafka returned (last answers: {answers[-3:]})")
        try:
            wait_for(lambda: follower.error is None, 60, "the follower's error to clear")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; it says: {follower.error}") from None
        stop.set()
        for thread in [*threads, watcher]:
            thread.join(90)
        assert follower_errors, "the follower never reported the broker's absence"

        statuses = Counter(status for status, _, _ in answers)
        assert set(statuses) <= {200, 503}, statuses
        assert statuses[503] >= 1, f"no request was refused while Kafka was down: {statuses}"
        assert all(retry for status, _, retry in answers if status == 503)
        acknowledged = {mid for status, ids, _ in answers if status == 200 for mid in ids}
        stored = {orjson.loads(r.value)["messageId"]
                  for r in read_topic(broker.bootstrap, settings.topics.raw, timeout=120)}
        missing = acknowledged - stored
        assert not missing, f"{len(missing)} events answered 200 are not in the raw topic " \
            f"(e.g. {sorted(missing)[:5]}); answers: {statuses}"
    finally:
        if followers[0] is not None:
            followers[0].stop()
        if collector is not None:
            collector.stop()
        broker.stop()
