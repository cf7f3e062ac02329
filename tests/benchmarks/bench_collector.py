"""The collector under load, against the broker's own produce rate measured in the same run.

A bounded load generator on loopback posts batches of 100 events (Segment's /v1/batch, Basic
auth) to one `shopstream collector` process, in two runs:

- as fast as it goes, from a number of concurrent connections: events per second
  acknowledged (every answer must be 200) and the request latency percentiles there (at
  saturation, latency is mostly requests queued behind each other);
- at a fixed offered rate (20,000 events/s by default, the collector's target load), each
  request sent at its scheduled time whatever the answers before it did (open loop), its
  latency counted from that time, so a stall is charged to every request it delayed.
 The baseline: the same events produced straight to the same topic by one
idempotent confluent-kafka producer (acks=all), as fast as it goes.

    make bench-collector            # or: .venv/bin/python tests/benchmarks/bench_collector.py
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from confluent_kafka import Producer  # noqa: E402

from deploy.local.broker import free_port  # noqa: E402
from models.keys import Role  # noqa: E402
from models.settings import load_settings  # noqa: E402
from streams.cli.keys import create_key  # noqa: E402
from streams.kafka.admin import ensure_topics  # noqa: E402
from streams.kafka.discovery import broker_for  # noqa: E402
from tests.benchmarks.stats import percentile  # noqa: E402
from tests.support import delete_topics  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def event(i: int) -> dict:
    return {"type": "track", "event": "Product Viewed", "userId": f"u{i % 5000}",
            "messageId": f"bench-{i}", "timestamp": "2026-03-01T10:00:00.000Z",
            "properties": {"product_id": f"p{i % 700}", "price": "19.99", "currency": "USD",
                           "name": "A product", "category": "shoes.running"},
            "context": {"page": {"path": "/p"}, "userAgent": "bench/1.0"}}


def broker_rate(bootstrap: str, topic: str, count: int) -> float:
    """Events per second one idempotent producer gets acknowledged (acks=all)."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "acks": "all", "compression.type": "lz4", "linger.ms": 2,
                         "batch.num.messages": 10_000})
    values = [(f"u{i % 5000}".encode(), orjson.dumps(event(i))) for i in range(count)]
    started = time.perf_counter()
    for key, value in values:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError("the broker did not acknowledge every event")
    return count / (time.perf_counter() - started)


async def load(url: str, key: str, batches: int, batch_size: int, connections: int
               ) -> tuple[float, list[float], dict[int, int]]:
    import aiohttp

    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    bodies = [orjson.dumps({"batch": [event(b * batch_size + i) for i in range(batch_size)]})
              for b in range(batches)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(f"{url}/v1/batch", data=body, headers={
                    "Authorization": auth, "Content-Type": "application/json"}) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            statuses[response.status] = statuses.get(response.status, 0) + 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, statuses


async def paced(url: str, key: str, rate: float, seconds: float, batch_size: int
                ) -> tuple[list[float], dict[int, int]]:
    """Requests of ``batch_size`` events at ``rate`` events/s for ``seconds``, each sent at
    its scheduled time; latency from that time to the answer."""
    import aiohttp

    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    interval = batch_size / rate
    count = int(seconds / interval)
    offset = 10_000_000  # message ids apart from the first run's
    bodies = [orjson.dumps({"batch": [event(offset + b * batch_size + i) for i in range(batch_size)]})
              for b in range(count)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    loop = asyncio.get_running_loop()

    async def one(session: aiohttp.ClientSession, index: int, start: float) -> None:
        scheduled = start + index * interval
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        async with session.post(f"{url}/v1/batch", data=bodies[index], headers={
                "Authorization": auth, "Content-Type": "application/json"}) as response:
            await response.read()
        latencies.append(loop.time() - scheduled)
        statuses[response.status] = statuses.get(response.status, 0) + 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        start = loop.time() + 0.2
        await asyncio.gather(*(one(session, i, start) for i in range(count)))
    return latencies, statuses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events to post")
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--connections", type=int, default=16, help="concurrent requests")
    parser.add_argument("--paced-rate", type=float, default=20_000.0,
                        help="events/s offered in the fixed-rate run")
    parser.add_argument("--paced-seconds", type=float, default=15.0,
                        help="length of the fixed-rate run")
    parser.add_argument("--json", type=Path, help="also write the figures here (what "
                        "`shopstream capacity --collector-bench` reads)")
    args = parser.parse_args(argv)
    batches = args.events // args.batch
    prefix = f"bench-collector-{uuid.uuid4().hex[:6]}."
    here = load_settings(topic_prefix=prefix, data_dir=REPO / "data" / "bench-collector")
    with broker_for(here, log=lambda line: print(line, file=sys.stderr)) as broker:
        settings = here.model_copy(update={"kafka_bootstrap": broker.bootstrap})
        ensure_topics(settings, broker.bootstrap)
        key, _ = create_key(settings, broker.bootstrap, "bench", Role.WRITE, rate=10_000_000)
        print(f"baseline: producing {args.events} events straight to Kafka...", file=sys.stderr)
        baseline = broker_rate(broker.bootstrap, settings.topics.raw, args.events)
        port = free_port()
        here.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(here.data_dir / "collector.log", "wb")
        collector = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "collector"], cwd=REPO, stdout=log,
            stderr=subprocess.STDOUT, env={**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap,
                                           "SHOPSTREAM_TOPIC_PREFIX": prefix,
                                           "SHOPSTREAM_COLLECTOR_PORT": str(port),
                                           "SHOPSTREAM_LOG_LEVEL": "WARNING"})
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(f"{url}/health", timeout=2).read()
                    break
                except OSError:
                    if time.monotonic() > deadline or collector.poll() is not None:
                        raise RuntimeError("the collector did not start") from None
                    time.sleep(0.3)
            asyncio.run(load(url, key, 20, args.batch, 4))  # warm-up: the key's first check
            print(f"load: {batches} requests of {args.batch} events, {args.connections} "
                  "connections...", file=sys.stderr)
            elapsed, latencies, statuses = asyncio.run(
                load(url, key, batches, args.batch, args.connections))
            print(f"load: {args.paced_rate:,.0f} events/s offered for {args.paced_seconds:g} s...",
                  file=sys.stderr)
            paced_latencies, paced_statuses = asyncio.run(
                paced(url, key, args.paced_rate, args.paced_seconds, args.batch))
        finally:
            collector.terminate()
            collector.wait(60)
            delete_topics(broker.bootstrap, prefix)
    rate = batches * args.batch / elapsed
    latencies.sort()
    print(f"{'measure':<44} {'value':>12}")
    print(f"{'broker produce rate (one producer, acks=all)':<44} {baseline:>10,.0f}/s")
    print(f"{'collector, events acknowledged':<44} {rate:>10,.0f}/s")
    print(f"{'collector / broker':<44} {rate / baseline:>12.2f}")
    for q in (50, 99):
        print(f"{f'request latency p{q} (batch of {args.batch})':<44} "
              f"{percentile(latencies, q) * 1000:>10.1f}ms")
    paced_latencies.sort()
    for q in (50, 99):
        print(f"{f'at {args.paced_rate:,.0f} events/s offered: p{q}':<44} "
              f"{percentile(paced_latencies, q) * 1000:>10.1f}ms")
    print(f"{'answers':<44} {statuses}")
    print(f"{'answers at the fixed rate':<44} {paced_statuses}")
    print(f"{'cores':<44} {len(os.sched_getaffinity(0)):>12}")
    if set(statuses) != {200} or set(paced_statuses) != {200}:
        raise SystemExit("some requests were not answered 200")
    if args.json is not None:  # (only from a run whose every answer was 200)
        args.json.write_bytes(orjson.dumps({
            "collector_events_per_s": rate, "broker_events_per_s": baseline,
            "batch": args.batch, "connections": args.connections,
            "latency_ms": {f"p{q}": percentile(latencies, q) * 1000 for q in (50, 99)},
            "paced_rate": args.paced_rate,
            "paced_latency_ms": {f"p{q}": percentile(paced_latencies, q) * 1000
                                 for q in (50, 99)},
            "answers": {str(k): v for k, v in statuses.items()},
            "cores": len(os.sched_getaffinity(0))}, option=orjson.OPT_INDENT_2))
        print(f"figures written to {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
