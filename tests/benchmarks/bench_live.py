"""Live state: produce-to-funnel-update latency and trigger delay after the deadline at a
steady simulated rate; whole-worker throughput against the validation stage alone.

    python tests/benchmarks/bench_live.py [--events 30000] [--rate 100] [--seconds 30]

1. throughput: N simulated events are preloaded into a fresh raw topic (one per
   run); a worker with only the validation stage (live agent and sink off) is timed
   from its first event to its last (the baseline); then the whole worker (validation,
   live agent, ClickHouse sink) from its first raw event to the live agent's last
   canonical event;
2. latency: the whole worker runs with ``CART_ABANDON_AFTER=5s`` while the simulator
   sends ``--rate`` events/s of traffic stamped now; every 200 ms a probe shopper
   starts a new session (its funnel update is visible when the session's entry is in
   the committed ``live-state`` changelog), and every 500 ms a probe cart is filled
   (its ``Cart Abandoned`` is visible when committed on the trigger topic). Times are
   wall clock: produce -> committed update, and deadline -> committed trigger.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orjson  # noqa: E402
from confluent_kafka import Consumer  # noqa: E402

from models.settings import load_settings  # noqa: E402
from streams.kafka.admin import ensure_topics  # noqa: E402
from streams.kafka.discovery import broker_for  # noqa: E402
from streams.sdk.tracker import Tracker  # noqa: E402
from streams.sources.simulator import SimConfig, simulate  # noqa: E402
from tests.benchmarks.bench_validation import preload  # noqa: E402
from tests.benchmarks.stats import percentile  # noqa: E402
from tests.support import WorkerProcess, wait_for  # noqa: E402


def fresh(bootstrap: str, label: str):
    prefix = f"bench{label}{uuid.uuid4().hex[:6]}."
    settings = load_settings(topic_prefix=prefix)
    ensure_topics(settings, bootstrap)
    return prefix, settings


def throughput(bootstrap: str, n: int, whole: bool) -> float:
    prefix, settings = fresh(bootstrap, "w" if whole else "v")
    preload(bootstrap, settings.topics.raw, n)
    env = {"SHOPSTREAM_LIVE_ENABLED": str(whole).lower(),
           "SHOPSTREAM_SINK_ENABLED": str(whole).lower()}
    worker = WorkerProcess(bootstrap, prefix, Path(tempfile.mkdtemp(prefix="bench-")), env=env)
    worker.start()
    try:
        first = wait_for(lambda: worker.metric("shopstream_events_in_total") > 0 and
                         time.perf_counter(), 120, "the first event", every=0.05)
        first_count = worker.metric("shopstream_events_in_total")
        wait_for(lambda: worker.metric("shopstream_events_in_total") >= n, 900, f"{n} read",
                 every=0.05)
        if not whole:
            last = time.perf_counter()
        else:
            out = worker.metric("shopstream_events_out_total", topic=settings.topics.events)
            last = wait_for(lambda: worker.metric("shopstream_live_events_total") >= out and
                            time.perf_counter(), 900, "the live agent to catch up", every=0.05)
        return (n - first_count) / (last - first)
    finally:
        worker.stop()


class Watcher(threading.Thread):
    """Records when keys first appear, committed, on some topics."""

    def __init__(self, bootstrap: str, topics: list[str], key_of) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"w-{uuid.uuid4()}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                  "isolation.level": "read_committed"})
        self.assigned = threading.Event()
        self.consumer.subscribe(topics, on_assign=lambda consumer, parts: self.assigned.set())
        self.key_of = key_of
        self.seen: dict[str, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for message in self.consumer.consume(1000, timeout=0.1):
                if message.error():
                    continue
                key = self.key_of(message)
                if key is not None and key not in self.seen:
                    self.seen[key] = time.time()
        self.consumer.close()


def latency(bootstrap: str, rate: float, seconds: float,
            commit_interval: float | None) -> tuple[list[float], list[float]]:
    prefix, settings = fresh(bootstrap, "l")
    env = {"CART_ABANDON_AFTER": "5s"}
    if commit_interval is not None:
        env["SHOPSTREAM_COMMIT_INTERVAL_S"] = str(commit_interval)
    worker = WorkerProcess(bootstrap, prefix, Path(tempfile.mkdtemp(prefix="bench-")), env=env)
    worker.start()
    changelog = f"{prefix}shopstream-live-state-changelog"
    abandoned = settings.topics.triggers["cart_abandoned"]

    def key_of(message) -> str | None:
        if message.topic() == changelog:
            return orjson.loads(message.key()) if message.value() is not None else None
        return "cart:" + orjson.loads(message.value())["cart_id"]

    watcher = Watcher(bootstrap, [changelog, abandoned], key_of)
    watcher.start()
    wait_for(watcher.assigned.is_set, 30, "the watcher's partitions")  # fresh topics: earliest
    sessions: dict[str, float] = {}
    carts: dict[str, float] = {}  # cart -> its deadline (wall = event time here)
    traffic = simulate(SimConfig(seed=5, rate=rate, start=datetime.now(UTC), malformed=0,
                                 duplicates=0))
    with Tracker(bootstrap, settings.topics.raw, producer_config={"linger.ms": 5}) as tracker:
        started = time.time()
        sent = 0
        next_probe = next_cart = started
        while time.time() - started < seconds:
            now = time.time()
            while sent < (now - started) * rate:
                event = next(traffic)
                value = orjson.loads(event.to_bytes())
                value["timestamp"] = datetime.now(UTC).isoformat()
                tracker.send_raw(orjson.dumps(value), event.key.encode() if event.key else None)
                sent += 1
            if now >= next_probe:
                sid = f"probe-{uuid.uuid4().hex[:10]}"
                sessions[f"s|default|{sid}"] = time.time()  # from the produce call on
                tracker.page("Probe", {"path": "/"}, user_id=sid, context={"sessionId": sid})
                next_probe += 0.2
            if now >= next_cart:
                cart = f"probe-cart-{uuid.uuid4().hex[:8]}"
                stamp = datetime.now(UTC)
                tracker.product_added(f"buyer-{cart}", {"product_id": "p1", "price": "1.00",
                                                        "currency": "USD", "quantity": 1}, cart,
                                      timestamp=stamp)
                carts[f"cart:{cart}"] = (stamp + timedelta(seconds=5)).timestamp()
                next_cart += 0.5
            # pacing, not waiting on a result: until the next event, probe or cart is due
            due = min(started + sent / rate, next_probe, next_cart)
            time.sleep(max(0.0, due - time.time()))
        tracker.flush(30)
    wait_for(lambda: all(k in watcher.seen for k in carts), 60, "every probe cart's trigger")
    wait_for(lambda: all(k in watcher.seen for k in sessions), 60, "every probe session")
    watcher.stopping.set()
    worker.stop()
    update_ms = [(watcher.seen[k] - t) * 1000 for k, t in sessions.items()]
    delay_ms = [(watcher.seen[k] - t) * 1000 for k, t in carts.items()]
    return update_ms, delay_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--commit-interval", type=float, default=None,
                        help="SHOPSTREAM_COMMIT_INTERVAL_S for the latency run (default: 1 s)")
    args = parser.parse_args()
    with broker_for(load_settings(), log=lambda m: print(m, file=sys.stderr)) as broker:
        stage = throughput(broker.bootstrap, args.events, whole=False)
        whole = throughput(broker.bootstrap, args.events, whole=True)
        update_ms, delay_ms = latency(broker.bootstrap, args.rate, args.seconds,
                                      args.commit_interval)
    print(f"throughput, {args.events:,} events: validation stage alone {stage:,.0f} ev/s; whole "
          f"worker (validation + live agent + ClickHouse sink) {whole:,.0f} ev/s; "
          f"ratio {whole / stage:.2f}")
    interval = args.commit_interval or 1.0
    print(f"(commit interval {interval:g} s)")
    print(f"produce -> committed funnel update, {len(update_ms)} probes at {args.rate:g} ev/s: "
          f"p50 {percentile(update_ms, 50):,.0f} ms, p99 {percentile(update_ms, 99):,.0f} ms "
          f"(mean {statistics.mean(update_ms):,.0f})")
    print(f"deadline -> committed Cart Abandoned, {len(delay_ms)} carts: "
          f"p50 {percentile(delay_ms, 50):,.0f} ms, p99 {percentile(delay_ms, 99):,.0f} ms")


if __name__ == "__main__":
    main()
