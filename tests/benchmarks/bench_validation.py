"""Validation-stage throughput against the raw consume limit, in the same run.

    python tests/benchmarks/bench_validation.py [--events 100000]

1. preloads N simulated events (default mix: 2% malformed, 1% duplicates) into a
   fresh raw topic on a real broker (KAFKA_BOOTSTRAP, or a local one started here);
2. baseline: a plain confluent-kafka consumer reads the topic and orjson-parses
   every message: the physical limit for any Python stage on this machine;
3. contract only: ``validate_bytes`` over the same payloads, in-process, no Kafka;
4. the Faust floor: a Faust agent that only iterates the topic (framework ceiling);
5. the validation stage: ``shopstream worker`` (sink off) consumes the topic from the
   start, once with Kafka transactions (the default) and once at least once; its rate
   is timed from its first event read to its last, via ``/metrics``.

Prints events/s for each and the ratios to the baseline. Figures, not asserts.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson  # noqa: E402
from confluent_kafka import Consumer  # noqa: E402

from models.settings import load_settings  # noqa: E402
from models.validation import Rules, validate_bytes  # noqa: E402
from streams.kafka.admin import ensure_topics  # noqa: E402
from streams.kafka.discovery import broker_for  # noqa: E402
from streams.sdk.tracker import Tracker  # noqa: E402
from streams.sources.simulator import SimConfig, simulate  # noqa: E402
from tests.support import WorkerProcess, wait_for  # noqa: E402


def preload(bootstrap: str, topic: str, n: int) -> list[bytes]:
    payloads = []
    with Tracker(bootstrap, topic, producer_config={"linger.ms": 50}) as tracker:
        for event in simulate(SimConfig(seed=42, rate=1000), n):
            value = event.to_bytes()
            payloads.append(value)
            tracker.send_raw(value, event.key.encode() if event.key else None)
        tracker.flush(120)
    return payloads[:n] if len(payloads) >= n else payloads


def raw_consume_rate(bootstrap: str, topic: str, n: int) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen, started = 0, None
    deadline = time.monotonic() + 300
    while seen < n and time.monotonic() < deadline:
        for msg in consumer.consume(10_000, timeout=1.0):
            if msg.error():
                continue
            if started is None:
                started = time.perf_counter()
            try:
                orjson.loads(msg.value())
            except orjson.JSONDecodeError:
                pass
            seen += 1
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return seen / elapsed


def contract_rate(payloads: list[bytes]) -> float:
    rules, now = Rules(), datetime.now(UTC)
    started = time.perf_counter()
    for value in payloads:
        validate_bytes(value, rules, now)
    return len(payloads) / (time.perf_counter() - started)


def faust_floor_rate(bootstrap: str, prefix: str, n: int) -> float:
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "SHOPSTREAM_TOPIC_PREFIX": prefix}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("faust_floor.py")), "--events", str(n),
         "--data-dir", tempfile.mkdtemp(prefix="floor-")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    # Faust routes stdout through its logger: look in both streams
    rates = re.findall(r"\brate (\d+(?:\.\d+)?)", done.stdout + done.stderr)
    if not rates:
        raise RuntimeError(f"the Faust floor run failed:\n{done.stderr[-3000:]}")
    return float(rates[0])


def stage_rate(bootstrap: str, prefix: str, n: int, guarantee: str) -> float:
    worker = WorkerProcess(bootstrap, prefix, Path(tempfile.mkdtemp(prefix="bench-")),
                           env={"SHOPSTREAM_PROCESSING_GUARANTEE": guarantee,
                                "SHOPSTREAM_APP_ID": f"bench-{guarantee}",
                                "SHOPSTREAM_SINK_ENABLED": "false"})
    worker.start()
    try:
        first = wait_for(lambda: worker.metric("shopstream_events_in_total") > 0 and
                         time.perf_counter(), 120, "the first event", every=0.05)
        first_count = worker.metric("shopstream_events_in_total")
        last = wait_for(lambda: worker.metric("shopstream_events_in_total") >= n and
                        time.perf_counter(), 600, f"{n} events", every=0.05)
        return (n - first_count) / (last - first)
    finally:
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = load_settings(topic_prefix=prefix)
    with broker_for(settings, log=lambda m: print(m, file=sys.stderr)) as broker:
        ensure_topics(settings, broker.bootstrap)
        raw = settings.topics.raw
        print(f"preloading {args.events:,} events into {raw} ...", file=sys.stderr)
        payloads = preload(broker.bootstrap, raw, args.events)
        n = len(payloads)
        baseline = raw_consume_rate(broker.bootstrap, raw, n)
        contract = contract_rate(payloads)
        floor = faust_floor_rate(broker.bootstrap, prefix, n)
        stage = stage_rate(broker.bootstrap, prefix, n, "exactly_once")
        stage_alo = stage_rate(broker.bootstrap, prefix, n, "at_least_once")
    print(f"events                                   {n:>10,}")
    print(f"raw confluent-kafka consume + orjson      {baseline:>10,.0f} ev/s   1.00 (limit)")
    print(f"contract validation only (no Kafka)       {contract:>10,.0f} ev/s   "
          f"{contract / baseline:.2f}")
    print(f"Faust agent that only iterates            {floor:>10,.0f} ev/s   "
          f"{floor / baseline:.2f}")
    print(f"validation stage, at least once           {stage_alo:>10,.0f} ev/s   "
          f"{stage_alo / baseline:.2f}   ({stage_alo / floor:.2f} of the Faust floor)")
    print(f"validation stage, exactly once (default)  {stage:>10,.0f} ev/s   "
          f"{stage / baseline:.2f}   ({stage / floor:.2f} of the Faust floor)")


if __name__ == "__main__":
    main()
