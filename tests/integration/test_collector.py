"""The HTTP collector as a real process on a real broker: Segment's HTTP API (and
analytics-python's own wire format), the flat envelope, keys that decide the tenant, key
changes seen without a restart, and every refusal with nothing produced for it."""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from deploy.local.broker import free_port
from models.keys import Role
from models.settings import Settings
from models.validation import validate_obj
from streams.cli.keys import create_key
from streams.stages.validation import rules_from
from tests.support import REPO, read_topic, wait_for

pytestmark = pytest.mark.integration


@dataclass
class CollectorProcess:
    """``shopstream collector`` in a child process, as an operator runs it."""

    bootstrap: str
    prefix: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> CollectorProcess:
        self.port = free_port()
        env = {**os.environ, "KAFKA_BOOTSTRAP": self.bootstrap,
               "SHOPSTREAM_TOPIC_PREFIX": self.prefix,
               "SHOPSTREAM_COLLECTOR_PORT": str(self.port), **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "collector"], env=env, cwd=REPO,
            stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)
        try:
            wait_for(self._healthy, timeout, "the collector to answer /health")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast /health answer: {self._last_health!r}\n"
                                 f"{self.log_path}:\n"
                                 f"{self.log_path.read_text(errors='replace')[-3000:]}") from None
        return self

    _last_health: object = None

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"collector exited with {self.process.returncode}:\n"
                                 f"{self.log_path.read_text(errors='replace')[-3000:]}")
        try:
            status, body, _ = post_status(f"{self.url}/health", None, method="GET")
        except OSError as exc:
            self._last_health = exc
            return False
        self._last_health = (status, body)
        return status == 200

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def post_status(url: str, body: bytes | None, headers: dict[str, str] | None = None,
                method: str = "POST", timeout: float = 60.0
                ) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON body, headers) of one request; HTTP errors are answers too."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, head = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw, status, head = exc.read(), exc.code, dict(exc.headers)
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"raw": raw.decode(errors="replace")}
    return status, parsed, head


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
            "Content-Type": "application/json"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def raw_events(kafka: str, settings: Settings) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in read_topic(kafka, settings.topics.raw)]


@pytest.fixture
def collector_factory(kafka, prefix, tmp_path):
    started: list[CollectorProcess] = []

    def make(**env: str) -> CollectorProcess:
        collector = CollectorProcess(kafka, prefix, tmp_path / f"collector-{len(started)}.log",
                                     env=env)
        started.append(collector)
        return collector.start()

    yield make
    for collector in started:
        collector.stop()


def test_segment_api_flat_envelope_and_stamping(settings, kafka, collector_factory):
    key_a, record_a = create_key(settings, kafka, "shop-a", Role.WRITE)
    collector = collector_factory(SHOPSTREAM_COLLECTOR_TRUSTED_PROXIES="127.0.0.1/32")
    url = collector.url

    # one call per Segment method; the path's type wins, and a payload naming another
    # tenant is stamped with the key's
    calls = {"track": {"event": "Product Viewed", "properties": {"product_id": "p1"}},
             "identify": {"traits": {"email": "a@example.com"}},
             "page": {"name": "Home", "properties": {"path": "/"}},
             "screen": {"name": "Home"}, "alias": {"previousId": "anon-1"},
             "group": {"groupId": "g1"}}
    for call, fields in calls.items():
        body = {"userId": "u1", "messageId": f"m-{call}", "tenant": "shop-b", **fields}
        status, answer, _ = post_status(f"{url}/v1/{call}", orjson.dumps(body), {
            **basic(key_a), "X-Forwarded-For": "198.51.100.7, 127.0.0.1"})
        assert (status, answer) == (200, {"success": True, "events": 1}), (call, answer)

    # a gzipped batch with the write key in the body, shared context
    batch = {"writeKey": key_a, "context": {"library": {"name": "test"}}, "batch": [
        {"type": "track", "event": "Product Added", "anonymousId": "anon-9",
         "messageId": f"b-{i}", "properties": {"product_id": f"p{i}", "price": "2.50"}}
        for i in range(5)]}
    status, answer, _ = post_status(f"{url}/v1/batch", gzip.compress(orjson.dumps(batch)),
                                    {"Content-Encoding": "gzip",
                                     "Content-Type": "application/json"})
    assert (status, answer) == (200, {"success": True, "events": 5})

    # the flat envelope with a Bearer key at both paths; sendBeacon's text/plain body
    for number, path in enumerate(("/collect", "/api/v1/core/collect/")):
        flat = {"category": "user", "event_type": "login", "user_id": "u2",
                "message_id": f"f-{number}"}
        status, answer, _ = post_status(f"{url}{path}", orjson.dumps(flat), bearer(key_a))
        assert (status, answer) == (200, {"success": True, "events": 1}), path
    beacon = {"writeKey": key_a, "batch": [{"type": "track", "event": "Cart Viewed",
                                            "anonymousId": "anon-3", "messageId": "beacon-1"}]}
    status, _, _ = post_status(f"{url}/v1/batch", orjson.dumps(beacon),
                               {"Content-Type": "text/plain;charset=UTF-8"})
    assert status == 200

    events = raw_events(kafka, settings)
    by_id = {e.get("messageId") or e.get("message_id"): e for e in events}
    assert len(events) == len(by_id) == 6 + 5 + 2 + 1  # each acknowledged event once
    assert {e["tenant"] for e in events} == {"shop-a"}
    assert by_id["m-screen"]["type"] == "screen" and by_id["m-track"]["type"] == "track"
    assert all("receivedAt" in e or "received_at" in e for e in events)
    # X-Forwarded-For believed from the trusted proxy (127.0.0.1): the hop before it
    assert by_id["m-track"]["context"]["ip"] == "198.51.100.7"
    assert by_id["b-0"]["context"]["ip"] == "127.0.0.1"
    assert by_id["b-0"]["context"]["library"] == {"name": "test"}
    assert by_id["f-1"]["ip_address"] == "127.0.0.1" and by_id["f-1"]["tenant"] == "shop-a"
    assert record_a.key_id not in json.dumps(events)  # no key material in events


def test_refusals_produce_nothing(settings, kafka, collector_factory):
    # scheme and host are case-insensitive: the browser's lower-case origin matches
    write, _ = create_key(settings, kafka, "shop-a", Role.WRITE, origins=("https://Shop.A",))
    read, _ = create_key(settings, kafka, "shop-a", Role.READ)
    slow, _ = create_key(settings, kafka, "shop-a", Role.WRITE, rate=5)
    url = collector_factory().url
    event = {"type": "track", "event": "Product Viewed", "userId": "u1",
             "properties": {"product_id": "p1"}}
    one = orjson.dumps({"batch": [event]})
    cases = [
        ("no key", one, {}, 401, "key_missing"),
        ("unknown key", one, basic("ssk_0123456789ab_" + "x" * 43), 403, "key_invalid"),
        ("a wrong secret", one, basic(write[:-4] + "abcd"), 403, "key_invalid"),
        ("a read key", one, basic(read), 403, "key_not_write"),
        ("an origin the key does not allow", one, {**basic(write), "Origin": "https://evil"},
         403, "origin_not_allowed"),
        ("an unknown key from a page", one, {**basic("ssk_0123456789ab_" + "x" * 43),
                                              "Origin": "https://shop.a"}, 403, "key_invalid"),
        ("a message's context not an object", orjson.dumps({
            "context": {"locale": "de"}, "batch": [event, {**event, "context": "oops"}]}),
         basic(write), 400, "not_object"),
        ("not JSON", b"{oops", basic(write), 400, "json_invalid"),
        ("not an object", b"[1, 2]", basic(write), 400, "not_object"),
        ("a batch with a non-object", orjson.dumps({"batch": [event, 3]}), basic(write), 400,
         "not_object"),
        ("an event over 32 KB", orjson.dumps({"batch": [event, {
            **event, "properties": {"product_id": "p", "blob": "x" * 33_000}}]}),
         basic(write), 400, "too_large"),
        ("a batch over 500 KB", orjson.dumps({"batch": [
            {**event, "properties": {"product_id": "p", "blob": "x" * 30_000}}] * 20}),
         basic(write), 400, "too_large"),
        ("a gzip bomb", gzip.compress(b'{"batch": [' + b" " * 2_000_000 + b"]}"),
         {**basic(write), "Content-Encoding": "gzip"}, 400, "too_large"),
        ("corrupt gzip", b"\x1f\x8b not gzip", {**basic(write), "Content-Encoding": "gzip"},
         400, "encoding_invalid"),
    ]
    for what, body, headers, status, code in cases:
        got, answer, head = post_status(f"{url}/v1/batch", body, headers)
        assert (got, answer.get("code")) == (status, code), (what, answer)
        assert answer["message"], what
        # a page reads the refusal (its SDK drops the batch rather than retry forever)
        assert head.get("Access-Control-Allow-Origin") == headers.get("Origin"), (what, head)
    # an event of 32 KB as sent is taken, though what the server stamps makes it larger
    blob = {**event, "messageId": "at-limit", "properties": {"product_id": "p", "blob": ""}}
    blob["properties"]["blob"] = "x" * (32 * 1024 - len(orjson.dumps(blob)))
    assert post_status(f"{url}/v1/track", orjson.dumps(blob), basic(write))[0] == 200
    [stored] = read_topic(kafka, settings.topics.raw)  # nothing of the refusals above
    assert len(stored.value) > 32 * 1024
    # unknown paths: a JSON 404 naming the path (a page may read it too)
    for method, path in (("POST", "/v1/trak"), ("GET", "/nothing")):
        status, answer, head = post_status(f"{url}{path}", one if method == "POST" else None,
                                           {**basic(write), "Origin": "https://shop.a"},
                                           method=method)
        assert (status, answer["code"]) == (404, "not_found") and path in answer["message"]
        assert head["Access-Control-Allow-Origin"] == "https://shop.a"

    # CORS: the key's origin gets the headers, preflight included
    status, _, head = post_status(f"{url}/v1/batch", None, {
        "Origin": "https://shop.a", "Access-Control-Request-Method": "POST"}, method="OPTIONS")
    assert status == 204 and head["Access-Control-Allow-Origin"] == "https://shop.a"
    status, _, head = post_status(f"{url}/v1/batch", one, {**basic(write),
                                                            "Origin": "https://shop.a"})
    assert status == 200 and head["Access-Control-Allow-Origin"] == "https://shop.a"

    # over the key's rate: 429 with Retry-After, and nothing of that request produced
    five = orjson.dumps({"batch": [{**event, "messageId": f"r{i}"} for i in range(5)]})
    assert post_status(f"{url}/v1/batch", five, basic(slow))[0] == 200
    status, answer, head = post_status(f"{url}/v1/batch", five, basic(slow))
    assert (status, answer["code"]) == (429, "rate_limited") and int(head["Retry-After"]) >= 1
    assert len(raw_events(kafka, settings)) == 1 + 1 + 5

    metrics = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    assert 'shopstream_collector_requests_total{endpoint="/v1/batch",status="429"} 1.0' in metrics
    assert 'shopstream_collector_events_total{endpoint="/v1/batch"} 6.0' in metrics
    assert 'shopstream_collector_events_total{endpoint="/v1/track"} 1.0' in metrics


def test_keys_created_and_revoked_count_without_a_restart(settings, kafka, collector_factory):
    url = collector_factory().url
    key, record = create_key(settings, kafka, "shop-a", Role.WRITE)  # after the start
    body = orjson.dumps({"batch": [{"type": "track", "event": "Logged In", "userId": "u"}]})
    wait_for(lambda: post_status(f"{url}/v1/batch", body, basic(key))[0] == 200, 30,
             "a key created after the collector started to be accepted")
    done = subprocess.run([sys.executable, "-m", "streams.cli.main", "keys", "revoke",
                           record.key_id], cwd=REPO, capture_output=True, timeout=120,
                          env={**os.environ, "KAFKA_BOOTSTRAP": kafka,
                               "SHOPSTREAM_TOPIC_PREFIX": settings.topic_prefix})
    assert done.returncode == 0, done.stderr
    wait_for(lambda: post_status(f"{url}/v1/batch", body, basic(key))[0] == 403, 30,
             "the revoked key to be refused")
    listing = subprocess.run([sys.executable, "-m", "streams.cli.main", "keys", "list",
                              "--format", "json"], cwd=REPO, capture_output=True, timeout=120,
                             env={**os.environ, "KAFKA_BOOTSTRAP": kafka,
                                  "SHOPSTREAM_TOPIC_PREFIX": settings.topic_prefix})
    [row] = json.loads(listing.stdout)
    assert (row["key_id"], row["tenant"], row["status"]) == (record.key_id, "shop-a", "revoked")
    assert key.split("_")[-1] not in listing.stdout.decode()  # the secret is never stored


def test_analytics_python_wire_format_is_accepted(settings, kafka, collector_factory):
    """Segment's own Python library, unchanged, pointed at the collector (its batch posts
    carry Basic auth and writeKey, gzip on)."""
    from segment.analytics import Client

    key, _ = create_key(settings, kafka, "shop-a", Role.WRITE)
    url = collector_factory().url
    errors: list[Any] = []
    client = Client(write_key=key, host=url, gzip=True, sync_mode=True, max_retries=0,
                    on_error=lambda error, batch: errors.append(error))
    client.identify("u1", {"email": "a@example.com"}, message_id="seg-1")
    client.track("u1", "Product Added to Cart", {"product_id": "p1", "unit_price": 9.5,
                                                 "quantity": 2, "cart_id": "c1"},
                 message_id="seg-2")
    client.page("u1", "Shop", "Home", {"path": "/"}, message_id="seg-3")
    client.screen("u1", "App", "Home", message_id="seg-4")
    client.alias("anon-1", "u1", message_id="seg-5")
    client.group("u1", "g1", message_id="seg-6")
    client.flush()
    assert errors == []
    events = {e["messageId"]: e for e in raw_events(kafka, settings)}
    assert sorted(events) == [f"seg-{i}" for i in range(1, 7)]
    added = events["seg-2"]
    assert (added["event"], added["tenant"], added["properties"]["unit_price"]) == (
        "Product Added to Cart", "shop-a", 9.5)
    assert added["context"]["library"]["name"] == "analytics-python"
    # and every call passes the contract, alias and group included (none is dead-lettered)
    results = {m: validate_obj(e, rules_from(settings), datetime.now(UTC))
               for m, e in events.items()}
    assert {m: r.issues for m, r in results.items() if not r.ok} == {}
    alias, group = results["seg-5"].event, results["seg-6"].event
    assert (alias.type, alias.previousId, alias.userId) == ("alias", "anon-1", "u1")
    assert (group.type, group.groupId) == ("group", "g1")
