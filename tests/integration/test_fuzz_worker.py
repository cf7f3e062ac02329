"""The fuzz corpus through a running worker (short version): simulated events, their byte
flips and truncations, and the hostile inputs of the unit fuzzer (220 KB ids, 300-deep
nesting, NaN/Infinity, 300 KB bodies, 20,000 fields, odd unicode...). The worker never
exits, no stage blocks, and every input ends in exactly one of canonical / dead letter /
duplicate; ClickHouse holds every canonical event once."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request

import orjson
import pytest

from streams.sdk.tracker import Tracker
from tests.support import count, read_topic, wait_for, wait_until_equal
from tests.unit.streams.stages.test_fuzz import CORPUS, HOSTILE

pytestmark = pytest.mark.integration


def mutated(seed: int, n: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        raw = bytearray(rng.choice(CORPUS))
        if rng.random() < 0.5:
            for _flip in range(rng.randint(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        else:
            del raw[rng.randrange(1, len(raw)):]
        out.append(bytes(raw))
    return out


def test_the_fuzz_corpus_through_a_running_worker(settings, worker_factory, kafka):
    inputs = [*CORPUS, *HOSTILE.values(), *mutated(5, 300)]
    worker = worker_factory().start()
    with Tracker(kafka, settings.topics.raw, validate=False) as tracker:
        for i, raw in enumerate(inputs):
            tracker.send_raw(raw, f"u-fuzz-{i % 7}".encode())
        tracker.flush()
    sent = tracker.delivered  # (a body over the broker's 1 MB limit cannot be sent at all)
    assert sent >= len(inputs) - 1 and tracker.failed == len(inputs) - sent

    def metric(name: str, **labels: str) -> float:
        return worker.metric(name, **labels)

    wait_until_equal(lambda: metric("shopstream_events_in_total"), sent, 120,
                     "every input read by the validation stage")
    t = settings.topics
    canonical = metric("shopstream_events_out_total", topic=t.events)
    dead = metric("shopstream_events_out_total", topic=t.dlq)
    duplicates = metric("shopstream_events_duplicate_total")
    assert canonical + dead + duplicates == sent, (canonical, dead, duplicates, sent)
    assert canonical > 50 and dead > 100
    wait_until_equal(lambda: count(kafka, t.events), canonical, 60, "canonical events on Kafka")
    # (a messageId resent under another key lands on another partition, which dedupes on
    # its own; ClickHouse keeps one row per event id)
    ids = {orjson.loads(r.value)["messageId"] for r in read_topic(kafka, t.events)}
    wait_until_equal(lambda: worker.sql("SELECT uniqExact(event_id) AS n FROM events")[0]["n"],
                     len(ids), 120, "every canonical event in ClickHouse")
    assert worker.process is not None and worker.process.poll() is None, worker.log_tail()
    try:
        with urllib.request.urlopen(f"{worker.base_url}/health", timeout=5) as response:
            status, body = response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        status, body = exc.code, json.loads(exc.read())
    assert status == 200 and all(s["state"] == "running" for s in body["stages"].values()), body
    wait_for(lambda: metric("shopstream_consumer_lag") == 0, 60, "no input left on any stage")
