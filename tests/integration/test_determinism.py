"""The same input gives the same triggers: ids, types and times, in two crash-free runs and
in a run whose worker is SIGKILLed twice (real broker; simulated shoppers interleaved across
partitions as a real shop's are)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from models.settings import TRIGGER_KINDS, load_settings
from models.times import format_time
from streams.kafka.admin import ensure_topics
from streams.sdk.tracker import Tracker
from streams.sources.files import jsonl_records
from streams.sources.simulator import SimConfig, simulate
from tests.support import (
    WorkerProcess,
    group_caught_up,
    group_committed,
    read_topic,
    wait_for,
    wait_until_stable,
)

pytestmark = pytest.mark.integration
ENV = {"SHOPSTREAM_SINK_ENABLED": "false", "CART_ABANDON_AFTER": "60s",
       "SHOPSTREAM_SESSION_TIMEOUT_S": "6"}


START, RATE, EVENTS = datetime(2026, 2, 1, tzinfo=UTC), 4.0, 4000
# the triggers of the data alone: up to its last event time (later ones fire as idle
# partitions are moved on by the wall clock, which no two runs share)
LAST_EVENT = format_time(START + timedelta(seconds=(EVENTS - 1) / RATE))


def run(kafka: str, lines: list[bytes], data_dir, kills: int) -> set[tuple[str, str, str]]:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    settings = load_settings(kafka_bootstrap=kafka, topic_prefix=prefix, data_dir=data_dir)
    ensure_topics(settings, kafka)
    worker = WorkerProcess(kafka, prefix, data_dir, env=ENV).start()
    try:
        with Tracker(kafka, settings.topics.raw) as tracker:
            for _n, key, value in jsonl_records(io.BytesIO(b"\n".join(lines)), 1 << 20):
                tracker.send_raw(value, key)
            tracker.flush()
        group = f"{prefix}shopstream-live"
        for kill in range(kills):  # mid-stream: some events applied, more to come
            wanted = (kill + 1) * len(lines) // (kills + 3)
            wait_for(lambda wanted=wanted: group_committed(kafka, group, settings.topics.events)
                     >= wanted, 120, f"the live stage past {wanted} events before kill {kill}")
            worker.kill()
            worker.start()

        def triggers() -> set[tuple[str, str, str]]:
            out = set()
            for kind in TRIGGER_KINDS:
                for record in read_topic(kafka, settings.topics.triggers[kind]):
                    body = orjson.loads(record.value)
                    out.add((body["trigger_id"], body["type"], body["time"]))
            return out

        wait_for(lambda: group_caught_up(kafka, f"{prefix}shopstream-live", settings.topics.events),
                 180, "the live stage to commit past every event")
        return {t for t in wait_until_stable(triggers, 60, "the triggers", every=2.0)
                if t[2] <= LAST_EVENT}
    finally:
        worker.kill()


def test_same_input_same_triggers_with_or_without_crashes(kafka, tmp_path):
    # 4 events/s of event time: 4000 events span about 17 minutes of shop activity
    lines = [e.to_bytes() for e in simulate(SimConfig(seed=17, rate=RATE, users=500,
                                                      start=START), EVENTS)]
    first = run(kafka, lines, tmp_path / "first", kills=0)
    second = run(kafka, lines, tmp_path / "second", kills=0)
    killed = run(kafka, lines, tmp_path / "killed", kills=2)
    kinds = {kind for _id, kind, _time in first}
    assert len(first) > 20 and {"cart_abandoned", "segment_changed"} <= kinds, (len(first), kinds)
    assert second == first, (sorted(second - first)[:5], sorted(first - second)[:5])
    assert killed == first, (sorted(killed - first)[:5], sorted(first - killed)[:5])
