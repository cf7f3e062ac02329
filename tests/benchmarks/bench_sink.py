"""ClickHouse sink: rows/s against a direct clickhouse-connect insert of the same rows,
and produce-to-queryable latency, in the same run.

    python tests/benchmarks/bench_sink.py [--events 200000] [--latency-seconds 20]

1. N canonical events (from the simulator, validated) are preloaded into a fresh
   ``shop.events`` topic on a real broker;
2. baseline: the same rows inserted straight into ClickHouse (embedded chDB) with
   clickhouse-connect, batches of 10,000, into a fresh database: the limit;
3. the sink (consumer thread, batching, dedup tokens, batch log, commits) reads the
   topic into another fresh database; timed from start to the last row;
4. latency: with the sink caught up, events are produced one at a time at a steady
   rate; each event's time from ``produce()`` to being visible in a query (polled
   every 20 ms) gives p50/p99.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.serde import event_to_json  # noqa: E402
from models.settings import load_settings  # noqa: E402
from models.validation import Rules, validate_bytes  # noqa: E402
from sinks.connection import connect  # noqa: E402
from sinks.kafka_sink import KafkaSink, start_sink_thread  # noqa: E402
from sinks.migrations import migrate  # noqa: E402
from sinks.rows import rows_for  # noqa: E402
from sinks.writer import Batch, ClickHouseWriter  # noqa: E402
from streams.kafka.admin import ensure_topics  # noqa: E402
from streams.kafka.discovery import broker_for  # noqa: E402
from streams.sdk.tracker import Tracker  # noqa: E402
from streams.sources.simulator import SimConfig, simulate  # noqa: E402
from tests.benchmarks.stats import percentile  # noqa: E402
from tests.support import wait_for  # noqa: E402


def canonical_events(n: int) -> list[tuple[bytes, bytes]]:
    now, rules, out, seen = datetime.now(UTC), Rules(), [], set()
    for event in simulate(SimConfig(seed=11, rate=500, malformed=0, duplicates=0)):
        result = validate_bytes(event.to_bytes(), rules, now)
        if result.ok and result.event.messageId not in seen:
            seen.add(result.event.messageId)
            out.append((result.event.key.encode(), event_to_json(result.event)))
            if len(out) == n:
                return out
    return out


def database(url: str, name: str):
    client = connect(url, name)
    migrate(client)
    return client



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--latency-rate", type=float, default=200.0)
    args = parser.parse_args()

    url = f"chdb://{tempfile.mkdtemp(prefix='bench-sink-')}"
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    settings = load_settings(topic_prefix=prefix)
    print(f"preparing {args.events:,} canonical events ...", file=sys.stderr)
    events = canonical_events(args.events)
    n = len(events)

    # baseline: the same rows, straight in
    direct = database(url, "bench_direct")
    rows = [rows_for(value) for _key, value in events]
    writer = ClickHouseWriter(direct)
    started = time.perf_counter()
    for i in range(0, n, 10_000):
        chunk = rows[i:i + 10_000]
        writer.write(Batch(f"direct:{i}", [r[0] for r in chunk], [x for r in chunk for x in r[1]]))
    direct_rate = n / (time.perf_counter() - started)

    with broker_for(settings, log=lambda m: print(m, file=sys.stderr)) as broker:
        ensure_topics(settings, broker.bootstrap)
        topic = settings.topics.events
        with Tracker(broker.bootstrap, topic, producer_config={"linger.ms": 50}) as tracker:
            for key, value in events:
                tracker.send_raw(value, key)
            tracker.flush(120)

        target = database(url, "bench_sink")
        sink = KafkaSink(broker.bootstrap, topic, f"bench-sink-{uuid.uuid4().hex[:6]}",
                         connect=lambda: target)
        started = time.perf_counter()
        thread = start_sink_thread(sink)
        wait_for(lambda: target.query("SELECT count() FROM events").result_rows[0][0] >= n,
                 600, f"the sink to write {n} rows", every=0.05)
        sink_rate = n / (time.perf_counter() - started)

        # latency at a steady rate, sink caught up
        sent: dict[str, float] = {}
        seen: dict[str, float] = {}
        stop = threading.Event()

        def poll() -> None:
            drain_deadline: float | None = None
            while not stop.is_set() or len(seen) < len(sent):
                if stop.is_set():  # traffic is over: drain what is left, with a deadline
                    drain_deadline = drain_deadline or time.perf_counter() + 30
                    if time.perf_counter() > drain_deadline:
                        return
                pending = [k for k in sent if k not in seen]
                if pending:
                    found = target.query(
                        "SELECT event_id FROM events WHERE event_id IN {ids:Array(String)}",
                        parameters={"ids": pending}).result_rows
                    now = time.perf_counter()
                    for (event_id,) in found:
                        seen.setdefault(event_id, now)
                time.sleep(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        template = canonical_events(1)[0]
        with Tracker(broker.bootstrap, topic, producer_config={"linger.ms": 0}) as tracker:
            begin = time.perf_counter()
            i = 0
            while time.perf_counter() - begin < args.latency_seconds:
                event_id = f"latency-{uuid.uuid4()}"
                value = template[1].replace(b'"messageId":"', f'"messageId":"{event_id}'.encode()
                                            + b"-", 1)
                event_id = value.split(b'"messageId":"', 1)[1].split(b'"', 1)[0].decode()
                sent[event_id] = time.perf_counter()
                tracker.send_raw(value, template[0])
                tracker.flush(0)
                i += 1
                time.sleep(max(0.0, begin + i / args.latency_rate - time.perf_counter()))
            tracker.flush()
        stop.set()
        poller.join(60)
        sink.stop()
        thread.join(60)

    latencies = [(seen[k] - sent[k]) * 1000 for k in sent if k in seen]
    print(f"events                                    {n:>10,}")
    print(f"direct clickhouse-connect insert          {direct_rate:>10,.0f} rows/s   1.00 (limit)")
    print(f"sink (Kafka -> ClickHouse, exactly once)  {sink_rate:>10,.0f} rows/s   "
          f"{sink_rate / direct_rate:.2f}")
    print(f"produce-to-queryable latency at {args.latency_rate:g} ev/s over {len(latencies)} events: "
          f"p50 {statistics.median(latencies):.0f} ms, p99 {percentile(latencies, 99):.0f} ms "
          f"(sink batches flush after {settings.sink_batch_seconds:g} s; polled every 20 ms)")


if __name__ == "__main__":
    main()
