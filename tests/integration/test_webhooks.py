"""Webhook delivery on a real broker, worker as a real process, against real HTTP receivers on
the loopback: a flaky one (30% 503s, some answers later than the worker waits), one that
always fails, and one held mid-delivery while the worker is SIGKILLed; and the commands on a
broker no worker has used yet."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from models.serde import dumps
from models.settings import load_settings
from models.signatures import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify
from models.triggers import CartAbandoned, Winback, trigger_id
from streams.webhooks.endpoints import endpoint_group
from tests.support import REPO, read_topic, wait_for, wait_until_equal

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 10, tzinfo=UTC)
FAST_RETRIES = {"SHOPSTREAM_WEBHOOK_TIMEOUT_S": "1", "SHOPSTREAM_WEBHOOK_RETRY_FOR_S": "4",
                "SHOPSTREAM_WEBHOOK_BACKOFF_INITIAL_S": "0.05",
                "SHOPSTREAM_WEBHOOK_BACKOFF_MAX_S": "0.4"}


class Receiver:
    """A webhook receiver as a shop would write one: checks the signature, and accepts each
    Idempotency-Key once (a repeat is answered 200 and ignored). ``behave(n)`` says what
    the n-th request gets: ``ok``, ``fail`` (503), ``slow`` (accepted, answered after the
    worker stopped waiting), ``hold`` (kept open until released, then dropped)."""

    def __init__(self, secret: str, behave) -> None:
        self.secret, self.behave = secret, behave
        self.lock = threading.Lock()
        self.requests = 0
        self.accepted: dict[str, dict] = {}
        self.answered_ok: list[str] = []  # ids answered 2xx, in order
        self.repeats: Counter[str] = Counter()
        self.behaviours: Counter[str] = Counter()
        self.slow_ids: set[str] = set()
        self.bad_signatures = 0
        self.held = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers[IDEMPOTENCY_HEADER]
                with receiver.lock:
                    receiver.requests += 1
                    what = receiver.behave(receiver.requests)
                    receiver.behaviours[what] += 1
                    if what == "slow":
                        receiver.slow_ids.add(key)
                    if not verify(receiver.secret, self.headers[SIGNATURE_HEADER], body, time.time()):
                        receiver.bad_signatures += 1
                        what = "bad_signature"
                    elif what in ("ok", "slow"):
                        if key in receiver.accepted:
                            receiver.repeats[key] += 1
                        else:
                            receiver.accepted[key] = orjson.loads(body)
                if what == "hold":
                    receiver.held.set()
                    receiver.release.wait(60)
                    self.close_connection = True
                    return
                if what == "slow":
                    time.sleep(1.5)  # the worker waits 1 s: it retries what was accepted
                status = {"ok": 200, "slow": 200, "fail": 503, "bad_signature": 400}[what]
                with receiver.lock:
                    if status == 200:
                        receiver.answered_ok.append(key)
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def cli(settings, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "SHOPSTREAM_TOPIC_PREFIX": settings.topic_prefix,
           "SHOPSTREAM_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run([sys.executable, "-m", "streams.cli.main", "webhooks", *args], env=env,
                          cwd=REPO, capture_output=True, timeout=120)
    assert done.returncode == expect, done.stderr.decode()
    return done


def add_endpoint(settings, url: str, types: str, secret: str) -> str:
    done = cli(settings, "add", "--url", url, "--types", types, "--secret", secret)
    return json.loads(done.stdout)["id"]


def publish_triggers(settings, kind: str, count: int, seed: str) -> list[str]:
    """Triggers straight onto their topic, as the live stage publishes them (keyed by user)."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True})
    ids = []
    for n in range(count):
        user, when = f"u{n % 17}", T0 + timedelta(minutes=n)
        tid = trigger_id(seed, kind, n)
        if kind == "winback":
            trigger = Winback(trigger_id=tid, tenant="default", time=when, emitted_at=when,
                              user_id=user, last_order_at=when, last_seen_at=when,
                              days_inactive=30.0, orders=2, revenue=Decimal("19.90"))
        else:
            trigger = CartAbandoned(
                trigger_id=tid, tenant="default", time=when, emitted_at=when, user_id=user,
                cart_id=f"c{n}", total_items=1, total_value=Decimal("10.50"), currency="USD",
                cart_duration_minutes=1.0, items=[], categories=[], reason="test",
                first_activity_at=when, last_activity_at=when, abandoned_at=when)
        producer.produce(settings.topics.triggers[kind], dumps(trigger.model_dump()), user.encode())
        ids.append(tid)
    assert producer.flush(30) == 0
    return ids


def test_flaky_and_dead_endpoints(settings, worker_factory, kafka):
    rng = random.Random(14)
    flaky = Receiver("flaky-secret-1", lambda n: rng.choices(["ok", "fail", "slow"],
                                                              [0.65, 0.30, 0.05])[0])
    dead = Receiver("dead-secret-22", lambda n: "fail")
    worker = worker_factory(**FAST_RETRIES).start()
    try:
        good_id = add_endpoint(settings, flaky.url, "cart_abandoned,winback", "flaky-secret-1")
        dead_id = add_endpoint(settings, dead.url, "winback", "dead-secret-22")
        carts = publish_triggers(settings, "cart_abandoned", 120, "flaky")
        winbacks = publish_triggers(settings, "winback", 5, "dead")
        everything = set(carts) | set(winbacks)

        wait_until_equal(lambda: set(flaky.accepted), everything, 100,
                         "every trigger accepted by the flaky endpoint")
        assert flaky.bad_signatures == 0 and dead.bad_signatures == 0
        assert flaky.behaviours["fail"] > 20 and flaky.behaviours["slow"] > 0, flaky.behaviours
        # a copy reaches the receiver only after an answer the worker did not wait for
        assert set(flaky.repeats) <= flaky.slow_ids

        def dead_letters() -> list[dict]:
            return [orjson.loads(r.value) for r in read_topic(kafka, settings.topics.webhooks_dlq)]

        wait_until_equal(lambda: sorted(d["source"]["offset"] for d in dead_letters()
                                        if d["endpoint"] == dead_id),
                         sorted(r.offset for r in read_topic(kafka, settings.topics.triggers["winback"])),
                         60, "every winback dead-lettered for the failing endpoint")
        letters = dead_letters()
        assert all(d["endpoint"] == dead_id and d["stage"] == "webhook" for d in letters), letters
        assert {d["reasons"][0]["code"] for d in letters} == {"delivery_failed"}
        assert all("HTTP 503" in d["reasons"][0]["message"] and d["attempts"] >= 2 for d in letters)
        assert {orjson.loads(d["payload"])["trigger_id"] for d in letters} == set(winbacks)
        assert dead.accepted == {}

        # the dead letters land in ClickHouse, once each
        wait_until_equal(lambda: (worker.sql_or_none(
            "SELECT count() AS n, uniqExact(source_offset, source_partition) AS u FROM dead_letters "
            f"WHERE stage = 'webhook' AND endpoint = '{dead_id}'") or [None])[0],
            {"n": 5, "u": 5}, 60, "the webhook dead letters in ClickHouse")

        def status() -> dict[str, dict]:
            rows = json.loads(cli(settings, "status", "--format", "json").stdout)
            return {r["id"]: {k: r[k] for k in ("pending", "delivered", "dead_letters")} for r in rows}

        wait_until_equal(status, {
            good_id: {"pending": 0, "delivered": len(everything), "dead_letters": 0},
            dead_id: {"pending": 0, "delivered": 0, "dead_letters": 5}}, 60, "webhooks status")
        # every answer the worker got, counted per endpoint: 2xx once per trigger, the rest
        # (503s and answers later than its timeout) retried
        assert worker.metric("shopstream_webhook_attempts_total", endpoint=good_id,
                             outcome="ok") == flaky.behaviours["ok"] == len(everything)
        assert worker.metric("shopstream_webhook_attempts_total", endpoint=good_id,
                             outcome="retry") == flaky.behaviours["fail"] + flaky.behaviours["slow"]
        assert worker.metric("shopstream_webhook_attempts_total", endpoint=dead_id,
                             outcome="retry") == dead.requests
        listed = json.loads(cli(settings, "list", "--format", "json").stdout)
        assert all(r["secret"] == "***" or r["secret"].startswith(("...", "whsec_..."))
                   for r in listed), listed  # at most the last 4 characters of a secret
        cli(settings, "remove", dead_id)
        assert [r["id"] for r in json.loads(cli(settings, "list", "--format", "json").stdout)] == [good_id]
        # no worker: the delivery figures are unknown, not 0; pending still comes from Kafka
        worker.kill()
        done = cli(settings, "status", "--format", "json")
        (row,) = json.loads(done.stdout)
        assert (row["pending"], row["delivered"], row["dead_letters"]) == (0, None, None), row
        assert b"no worker answers on" in done.stderr, done.stderr
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.log_tail(30)}") from None
    finally:
        flaky.close()
        dead.close()


def test_sigkill_mid_delivery_neither_loses_nor_repeats_an_acknowledged_trigger(
        settings, worker_factory, kafka):
    hold_at = 40
    receiver = Receiver("kill-secret-333", lambda n: "hold" if n == hold_at else "ok")
    # the held request stays open until the kill (the worker would give up on it after 1 s)
    worker = worker_factory(**{**FAST_RETRIES, "SHOPSTREAM_WEBHOOK_TIMEOUT_S": "60"}).start()
    try:
        add_endpoint(settings, receiver.url, "cart_abandoned", "kill-secret-333")
        ids = publish_triggers(settings, "cart_abandoned", 90, "kill")
        wait_for(receiver.held.is_set, 90, f"the worker's request number {hold_at}")
        worker.kill()  # mid-delivery: request 40 is open, 39 were acknowledged
        with receiver.lock:
            acknowledged = list(receiver.answered_ok)
        receiver.release.set()
        assert len(acknowledged) == hold_at - 1

        worker.start()
        wait_until_equal(lambda: set(receiver.accepted), set(ids), 100,
                         "every trigger accepted after the restart")
        assert not (set(receiver.repeats) & set(acknowledged)), \
            f"acknowledged triggers sent again: {set(receiver.repeats) & set(acknowledged)}"
        assert sum(receiver.repeats.values()) == 0
        assert receiver.bad_signatures == 0
        assert Counter(receiver.answered_ok) == Counter(ids), "each trigger acknowledged once"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.log_tail(30)}") from None
    finally:
        receiver.close()


def test_the_commands_on_a_broker_no_worker_has_used(kafka, prefix, tmp_path):
    """Fresh topics (the ``settings`` fixture would create them): ``list`` on the very first
    run, then ``add`` without ``--from-beginning`` (it failed with ``_INVALID_ARG``: the
    trigger topics it reads its starting offsets from did not exist)."""
    fresh = load_settings(kafka_bootstrap=kafka, topic_prefix=prefix, data_dir=tmp_path / "data")
    assert json.loads(cli(fresh, "list", "--format", "json").stdout) == []
    endpoint_id = add_endpoint(fresh, "http://127.0.0.1:46801/x", "cart_abandoned", "fresh-secret-1")
    assert [r["id"] for r in json.loads(cli(fresh, "list", "--format", "json").stdout)] == [
        endpoint_id]
    # its group starts at the end of every partition of its topic (empty: offset 0)
    topic = fresh.topics.triggers["cart_abandoned"]
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": endpoint_group(fresh, endpoint_id)})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
    finally:
        consumer.close()
    assert len(committed) == fresh.topic_partitions
    assert [tp.offset for tp in committed] == [0] * fresh.topic_partitions
    publish_triggers(fresh, "cart_abandoned", 4, "fresh")
    (row,) = json.loads(cli(fresh, "status", "--format", "json").stdout)
    assert row["pending"] == 4, row
    refused = cli(fresh, "add", "--url", "http://127.0.0.1:99999/x", "--types", "cart_abandoned",
                  expect=2)
    assert refused.stderr.decode().strip().endswith("a port is a number from 1 to 65535")
    assert refused.stdout == b""
