"""Poison records on a running worker: garbage produced straight to ``shop.events`` while
traffic flows, and values that ClickHouse's columns cannot hold. Every stage dead-letters
what it cannot use and carries on: nothing blocks, /health stays 200, every valid event
lands in ClickHouse once, and a restart does not stop on the same records."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

import orjson
import pytest

from models.validation import Rules, validate_bytes
from streams.sdk.tracker import Tracker
from tests.integration.test_sink import expected, produce, rows_count, sim_lines
from tests.support import read_topic, wait_for, wait_until_equal

pytestmark = pytest.mark.integration


def health(worker) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{worker.base_url}/health", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_garbage_on_the_canonical_topic_is_dead_lettered_and_nothing_stops(
        settings, worker_factory, kafka):
    lines = sim_lines(3000, seed=31)
    n_events, _ = expected(lines)
    worker = worker_factory(SHOPSTREAM_SINK_BATCH_ROWS="200").start()
    produce(kafka, settings.topics.raw, lines[:1500])
    with Tracker(kafka, settings.topics.events, validate=False) as rogue:  # a misbehaving producer
        rogue.send_raw(b"not json", b"u-rogue")
        rogue.send_raw(b'{"foo": 1}', b"u-rogue")
        rogue.flush()
    produce(kafka, settings.topics.raw, lines[1500:])

    wait_until_equal(lambda: rows_count(worker), n_events, 240, f"{n_events} events in ClickHouse")

    def letters_by_stage() -> dict[str, int]:
        out: dict[str, int] = {}
        for record in read_topic(kafka, settings.topics.dlq):
            stage = orjson.loads(record.value)["stage"]
            out[stage] = out.get(stage, 0) + 1
        return out

    malformed = sum(1 for line in lines if not _valid(line))
    wait_until_equal(letters_by_stage, {"validate": malformed, "live": 2, "sink": 2}, 60,
                     "dead letters from each stage")
    status, body = health(worker)
    assert status == 200 and body["status"] == "ok", body
    running = {name for name, s in body["stages"].items() if s["state"] == "running"}
    assert running == set(body["stages"]) >= {"validate", "live", "trending", "sink"}, body["stages"]
    # the worker's own followers of compacted topics, loaded and well
    assert body["followers"]["erasure list"]["loaded"], body["followers"]
    assert all(f["healthy"] and f["error"] is None for f in body["followers"].values()), body
    if settings.validation_processes:  # the validation child's own, named apart
        assert "erasure list (process 0)" in body["followers"], body["followers"]

    # a restart reads past them: nothing stops, nothing is written twice
    worker.stop()
    worker.start()
    wait_for(lambda: health(worker)[0] == 200 and health(worker)[1]["stages"]["sink"]["state"]
             == "running", 60, "the restarted worker healthy")
    extra = sim_lines(200, seed=32)
    produce(kafka, settings.topics.raw, extra)
    total, _ = expected(lines + extra)
    wait_until_equal(lambda: rows_count(worker), total, 240, f"{total} events after restart")
    assert rows_count(worker) == worker.sql("SELECT uniqExact(event_id) AS n FROM events")[0]["n"]
    assert letters_by_stage()["sink"] == 2 and letters_by_stage()["live"] == 2
    assert health(worker)[0] == 200


def _valid(line: bytes) -> bool:
    return validate_bytes(line, Rules(), datetime.now(UTC)).ok
