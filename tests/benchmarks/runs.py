"""The measurements of ``bench.py``, one function per figure. Each worker run gets fresh
topics (its own prefix), so consumer groups, changelogs and state start empty."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import orjson
from confluent_kafka import Message

from models.settings import Settings, load_settings
from models.validation import validate_bytes
from sinks.rows import rows_for
from sinks.writer import Batch, ClickHouseWriter
from streams.app import faust_app_id
from streams.kafka.admin import ensure_topics
from streams.sdk.tracker import Tracker
from streams.stages.live import live_changelog
from streams.stages.trending import trending_changelog
from streams.stages.validation import dedupe_topic, rules_from
from tests.benchmarks.kafka_io import (
    CommitWatch,
    GroupProgress,
    HeldInput,
    ProgressLog,
    Watcher,
    consume_rate,
    partitions_of,
    read_committed,
    record_ends,
)
from tests.benchmarks.traffic import Message as Outgoing
from tests.benchmarks.traffic import stamped_now
from tests.benchmarks.workers import BenchWorker, process_cpu_seconds, wait_ready
from tests.support import delete_topics, wait_for

# each stage's consumer group (after the app id) and input topic
STAGES = {"validate": ("validate", "raw"), "live": ("live", "events"),
          "trending": ("trending", "trending_updates"), "sink": ("clickhouse-sink", "events")}
LIVE = ["live", "trending"]  # the live stage feeds the trending stage; both run when live is on


@dataclass
class Lab:
    """Where the runs happen: the broker, a scratch directory, the partition count (None:
    the settings' default), and the broker's process when it runs on this machine (its CPU
    time is read with the workers')."""

    bootstrap: str
    workdir: Path
    partitions: int | None = None
    broker_pid: int | None = None
    timeline: bool = False  # print each stage's committed records about once a second

    def broker_cpu(self) -> float | None:
        """The broker's CPU time so far (None: not on this machine, or gone)."""
        return None if self.broker_pid is None else process_cpu_seconds(self.broker_pid)

    @contextlib.contextmanager
    def topics(self, label: str, partitions: int | None = None) -> Iterator[Settings]:
        """Settings on a new topic prefix, its topics created, and deleted afterwards (a run
        leaves a dozen topics of 12 partitions behind: a small broker would fill up)."""
        count = partitions or self.partitions
        settings = load_settings(kafka_bootstrap=self.bootstrap,
                                 topic_prefix=f"bench-{label}-{uuid.uuid4().hex[:6]}.",
                                 **({"topic_partitions": count} if count else {}))
        # the changelogs too, as the worker would, and leaders elected before any worker
        # starts: two workers creating them at once may read one before it has a leader
        changelogs = [dedupe_topic(settings), live_changelog(settings), trending_changelog(settings)]
        # what earlier runs wrote reaches the disk now, not in the middle of this run (the
        # kernel writes dirty pages back once they are 30 s old)
        os.sync()
        ensure_topics(settings, self.bootstrap, compacted_extra=changelogs)
        for topic in [*settings.topics.all(), *changelogs]:
            partitions_of(self.bootstrap, topic)
        try:
            yield settings
        finally:
            delete_topics(self.bootstrap, settings.topic_prefix)

    def worker(self, settings: Settings, name: str, *, live: bool, sink: bool,
               cpus: str | None = None, env: dict[str, str] | None = None) -> BenchWorker:
        return BenchWorker(self.bootstrap, settings.topic_prefix,
                           self.workdir / f"{settings.topic_prefix}{name}", cpus=cpus, env={
                               "SHOPSTREAM_LIVE_ENABLED": str(live).lower(),
                               "SHOPSTREAM_SINK_ENABLED": str(sink).lower(),
                               "SHOPSTREAM_TOPIC_PARTITIONS": str(settings.topic_partitions),
                               "SHOPSTREAM_WORKER_ID": f"{settings.topic_prefix}{name}",
                               **(env or {})})


@dataclass
class Throughput:
    count: int        # records of the input (raw events, or canonical events)
    seconds: float    # from the input appearing to every stage having committed all of it
    rss_mib: list[list[float]] = field(default_factory=list)  # per worker, each process's peak RSS
    stage_seconds: dict[str, float] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)  # the workers' metrics, summed
    worker_cpu_s: list[list[float]] = field(default_factory=list)  # per worker, per process:
                                                                  # CPU used during the run
    broker_cpu_s: float | None = None  # CPU the broker used during the run (None: not here)

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_per_event_us(self) -> float | None:
        """CPU the workers used per input record during the run, microseconds."""
        total = sum(sum(processes) for processes in self.worker_cpu_s)
        return total / self.count * 1e6 if total else None

    @property
    def broker_cpu_per_event_us(self) -> float | None:
        """CPU the broker used per input record during the run, microseconds."""
        return None if self.broker_cpu_s is None else self.broker_cpu_s / self.count * 1e6


def stage_input(settings: Settings, stage: str) -> tuple[str, str]:
    """A stage's consumer group and input topic."""
    group, topic = STAGES[stage]
    return f"{faust_app_id(settings)}-{group}", getattr(settings.topics, topic)


def run_workers(lab: Lab, settings: Settings, workers: list[BenchWorker], topic: str,
                messages: list[Outgoing], stages: list[str]) -> Throughput:
    """Start ``workers``, hold ``messages`` back in a transaction on ``topic`` meanwhile,
    wait until the workers' stages own every partition, release the input and time until
    each of ``stages`` (in pipeline order) committed everything it has to read."""
    for worker in workers:
        worker.start()
    groups = {stage: GroupProgress(lab.bootstrap, *stage_input(settings, stage)) for stage in stages}
    progress = ProgressLog(list(groups.values()))
    try:
        held = HeldInput(lab.bootstrap, topic, messages)
        wait_ready(workers, dict.fromkeys(["validate", *stages], settings.topic_partitions))
        progress.start()
        wait_for(lambda: progress.samples, 30, "the first progress sample")
        timeout = max(300.0, len(messages) / 200)
        cpu_before, broker_before = [w.cpu_seconds() for w in workers], lab.broker_cpu()
        started = held.release()
        done: dict[str, float] = {}
        for stage in stages:  # in pipeline order: a stage's input is final when the one before is done
            group = groups[stage]
            ends = held.ends if group.topic == topic else record_ends(lab.bootstrap, group.topic)
            done[stage] = progress.wait(group.group, ends, timeout) - started
        if lab.timeline:
            names = {group.group: stage for stage, group in groups.items()}
            for line in timeline(progress.samples, started, names):
                print(line, file=sys.stderr, flush=True)
        # the run ended when the last stage got there; what comes after it barely counts
        cpu = [[after - before for after, before in zip(w.cpu_seconds(), earlier, strict=False)]
               for w, earlier in zip(workers, cpu_before, strict=True)]
        broker_after = lab.broker_cpu()
        broker = None if broker_before is None or broker_after is None else broker_after - broker_before
        rss = [w.peak_rss_mib() for w in workers]
        return Throughput(len(messages), max(done.values()), rss, done, counters(settings, workers),
                          cpu, broker)
    finally:
        progress.stop()
        for worker in workers:
            stop(worker)


def timeline(samples: list[tuple[float, dict[str, dict[int, int]]]], started: float,
             names: dict[str, str], every_s: float = 1.0) -> list[str]:
    """About one line a second from the release of the input: the records each stage had
    committed by then (which stage fell behind, and when it caught up)."""
    lines, last = [], started - every_s
    for at, sample in samples:
        if at >= started and at - last >= every_s:
            last = at
            counts = "  ".join(f"{names.get(group, group)} {sum(max(o, 0) for o in offsets.values()):,}"
                               for group, offsets in sample.items())
            lines.append(f"     {at - started:5.1f} s: {counts}")
    return lines


def counters(settings: Settings, workers: list[BenchWorker]) -> dict[str, float]:
    """What the workers say they did (a check that the run did the work it timed)."""
    wanted = {"events_in": ("shopstream_events_in_total", {}),
              "canonical_out": ("shopstream_events_out_total", {"topic": settings.topics.events}),
              "dead_letters": ("shopstream_events_out_total", {"topic": settings.topics.dlq}),
              "duplicates": ("shopstream_events_duplicate_total", {}),
              "live_events": ("shopstream_live_events_total", {}),
              "triggers": ("shopstream_triggers_total", {}),
              "sink_event_rows": ("shopstream_sink_rows_total", {"table": "events"}),
              # every stage loop's transactions, summed over stages and processes
              "commits": ("shopstream_transaction_commit_seconds_count", {}),
              "commit_seconds": ("shopstream_transaction_commit_seconds_sum", {})}
    out = dict.fromkeys(wanted, 0.0)
    for worker in workers:
        for name, (metric, labels) in wanted.items():
            out[name] += worker.metric(metric, **labels)
    return out


def stop(worker: BenchWorker) -> None:
    try:
        worker.stop(60)
    except Exception:  # noqa: BLE001 - a worker that does not stop in time is killed
        worker.kill()


# -- 1, 2: the limits ------------------------------------------------------------------

def raw_limit(lab: Lab, raw: list[Outgoing], repeats: int = 3) -> float:
    """The median of ``repeats`` runs, each on fresh topics: the baseline of every ratio, and
    a short run, so the one most exposed to a neighbour's burst on a shared machine."""
    rates = []
    for _ in range(repeats):
        with lab.topics("limit") as settings:
            held = HeldInput(lab.bootstrap, settings.topics.raw, raw)
            rates.append(consume_rate(lab.bootstrap, held))
    return statistics.median(rates)


def contract_rate(raw: list[Outgoing], settings: Settings, enrich: bool = True) -> float:
    rules, now = rules_from(settings), datetime.now(UTC)
    if not enrich:
        rules = replace(rules, enrich=False)
    started = time.perf_counter()
    for message in raw:
        validate_bytes(message.value, rules, now)
    return len(raw) / (time.perf_counter() - started)


# -- 3-6: stages and the whole worker ---------------------------------------------------------

def validation_alone(lab: Lab, raw: list[Outgoing], env: dict[str, str] | None = None,
                     label: str = "validate") -> tuple[Throughput, list[Outgoing]]:
    """Also returns the canonical events it wrote (partitions kept), for runs 4 and 5."""
    with lab.topics(label) as settings:
        worker = lab.worker(settings, "w", live=False, sink=False, env=env)
        result = run_workers(lab, settings, [worker], settings.topics.raw, raw, ["validate"])
        return result, read_committed(lab.bootstrap, settings.topics.events)


def live_alone(lab: Lab, canonical: list[Outgoing]) -> Throughput:
    with lab.topics("live") as settings:
        worker = lab.worker(settings, "w", live=True, sink=False)
        return run_workers(lab, settings, [worker], settings.topics.events, canonical, LIVE)


def sink_alone(lab: Lab, canonical: list[Outgoing]) -> Throughput:
    with lab.topics("sink") as settings:
        worker = lab.worker(settings, "w", live=False, sink=True)
        return run_workers(lab, settings, [worker], settings.topics.events, canonical, ["sink"])


def direct_insert_rate(lab: Lab, canonical: list[Outgoing], batch_rows: int) -> float:
    """The same rows straight into a fresh embedded ClickHouse (all materialized views
    attached): ``rows_for`` and one clickhouse-connect insert per ``batch_rows`` events,
    as the sink batches them."""
    from sinks.connection import connect
    from sinks.migrations import migrate

    client = connect(f"chdb://{lab.workdir / 'direct-chdb'}", f"direct_{uuid.uuid4().hex[:8]}")
    migrate(client)
    writer = ClickHouseWriter(client)
    started = time.perf_counter()
    for first in range(0, len(canonical), batch_rows):
        rows = [rows_for(m.value) for m in canonical[first:first + batch_rows]]
        writer.write(Batch(f"direct:{first}", [event for event, _ in rows],
                           [item for _, items in rows for item in items]))
    rate = len(canonical) / (time.perf_counter() - started)
    client.command(f"DROP DATABASE `{client.database}`")  # no merges left running in here
    return rate


def whole_worker(lab: Lab, raw: list[Outgoing], label: str) -> Throughput:
    with lab.topics(label) as settings:
        worker = lab.worker(settings, "w", live=True, sink=True)
        return run_workers(lab, settings, [worker], settings.topics.raw, raw,
                           ["validate", *LIVE, "sink"])


# -- 7: latency -----------------------------------------------------------------------------

@dataclass
class Latency:
    canonical_ms: list[float]   # produce() -> canonical event visible, read_committed
    funnel_ms: list[float]      # produce() -> the live stage's transaction holding the event's
                                # funnel (and every other live state) update committed
    trigger_ms: list[float]     # cart deadline -> Cart Abandoned visible, read_committed,
                                # deadlines that passed while the traffic flowed
    idle_trigger_ms: list[float]  # the same, deadlines that passed in its last second or after
    sent: int
    carts: int
    rss_mib: list[list[float]]  # the worker's processes' peak RSS


def latency(lab: Lab, rate: float, seconds: float, abandon_after_s: float = 2.0,
            cart_every_s: float = 0.2, warmup_s: float = 5.0) -> Latency:
    """The whole worker, ``CART_ABANDON_AFTER=<abandon_after_s>``, traffic at ``rate``
    events/s stamped now, a probe cart every ``cart_every_s``; timed after ``warmup_s`` of
    the same traffic (a stage's first transactions to each partition, its first state
    entries and the clients' first requests are start-up, not the steady state)."""
    with lab.topics("latency") as settings:
        worker = lab.worker(settings, "w", live=True, sink=True,
                            env={"CART_ABANDON_AFTER": f"{abandon_after_s:g}s"})
        worker.start()
        try:
            p = settings.topic_partitions
            wait_ready([worker], dict.fromkeys(["validate", *LIVE, "sink"], p))
            commits = CommitWatch(lab.bootstrap, *stage_input(settings, "live"))
            commits.start()
            try:
                seen, positions, sent, deadlines, ended = send_and_watch(
                    lab, settings, rate, seconds, abandon_after_s, cart_every_s, warmup_s)
                canonical = [(p, o) for t, p, o in positions.values() if t == settings.topics.events]
                try:
                    wait_for(lambda: all(commits.committed_at(p, o) for p, o in canonical), 30,
                             "the live stage's commit of every canonical event")
                except AssertionError as exc:  # report what was seen; the counts say the rest
                    print(f"latency run: {exc}", file=sys.stderr, flush=True)
            finally:
                commits.stop()
            rss = worker.peak_rss_mib()
        finally:
            stop(worker)

    def delays(times: dict[str, float]) -> list[float]:
        return [(seen[k] - t) * 1000 for k, t in times.items() if k in seen]

    funnel = []
    for key, sent_at in sent.items():
        topic, partition, offset = positions.get(key, ("", 0, 0))
        committed_at = commits.committed_at(partition, offset) if topic else None
        if committed_at is not None:
            funnel.append((committed_at - sent_at) * 1000)

    # a deadline passing in the traffic's last second has no later events to carry the
    # partition's clock past it: it is timed with those passing after the traffic stopped
    flowing = {k: t for k, t in deadlines.items() if t < ended - 1.0}
    return Latency(delays(sent), funnel, delays(flowing),
                   delays({k: t for k, t in deadlines.items() if k not in flowing}),
                   len(sent), len(deadlines), [rss])


def send_and_watch(lab: Lab, settings: Settings, rate: float, seconds: float,
                   abandon_after_s: float, cart_every_s: float, warmup_s: float = 0.0
                   ) -> tuple[dict[str, float], dict[str, tuple[str, int, int]], dict[str, float],
                              dict[str, float], float]:
    """Send the traffic and the probe carts to a running worker; returns when each key was
    first seen committed and where, when each event was sent, when each cart's deadline
    passed (wall clock, seconds) and when the traffic ended."""
    topics = settings.topics
    abandoned = topics.triggers["cart_abandoned"]

    def key_of(message: Message) -> str | None:
        value = orjson.loads(message.value() or b"{}")
        if message.topic() == abandoned:
            return "cart:" + value["cart_id"]
        return value.get("messageId")

    watcher = Watcher(lab.bootstrap, [topics.events, abandoned], key_of)
    watcher.start()
    sent: dict[str, float] = {}       # messageId -> wall time of its produce() call
    deadlines: dict[str, float] = {}  # "cart:<id>" -> wall time its deadline passed
    traffic = stamped_now(rate)
    next(traffic)  # the simulator opens its first rate x 20 sessions now, not on the clock
    count = 0
    with Tracker(lab.bootstrap, topics.raw, producer_config={"linger.ms": 5}) as tracker:
        started = next_cart = time.time()
        timed_from = started + warmup_s  # what is sent before this is not timed
        while (now := time.time()) - started < warmup_s + seconds:
            while count < (now - started) * rate:
                event = next(traffic)
                count += 1
                if now >= timed_from:
                    sent[event.message_id] = time.time()
                tracker.send_raw(event.value, event.key)
            if now >= next_cart and now >= timed_from:
                cart = f"bench-{uuid.uuid4().hex[:10]}"
                stamp_ms = int(time.time() * 1000)  # the event's time, to the millisecond
                tracker.product_added(f"buyer-{cart}", {"product_id": "p1", "price": "1.00",
                                                        "currency": "USD", "quantity": 1}, cart,
                                      timestamp=datetime.fromtimestamp(stamp_ms / 1000, UTC),
                                      context={"sessionId": f"s-{cart}"})
                deadlines[f"cart:{cart}"] = stamp_ms / 1000 + abandon_after_s
                next_cart = max(next_cart + cart_every_s, now)  # behind: no burst of carts
            time.sleep(max(0.0, min(started + count / rate, next_cart) - time.time()))
        ended = time.time()
    try:
        wait_for(lambda: all(k in watcher.seen for k in deadlines), 60 + abandon_after_s,
                 "every probe cart's Cart Abandoned")
        wait_for(lambda: all(k in watcher.seen for k in sent), 60, "every canonical event")
    except AssertionError as exc:  # report what was seen; the counts say what was missing
        print(f"latency run: {exc}", file=sys.stderr, flush=True)
    watcher.stop()
    return watcher.seen, watcher.positions, sent, deadlines, ended


# -- 8: scale-out -----------------------------------------------------------------------

def pinned(lab: Lab, raw: list[Outgoing], cpus: list[str], partitions: int,
           label: str = "scale") -> Throughput:
    """Validation + live (sink off: an embedded ClickHouse has one owner) on ``len(cpus)``
    workers, each pinned to one CPU, one group, ``partitions`` partitions."""
    with lab.topics(f"{label}{len(cpus)}", partitions) as settings:
        workers = [lab.worker(settings, f"w{i}", live=True, sink=False, cpus=cpu)
                   for i, cpu in enumerate(cpus)]
        return run_workers(lab, settings, workers, settings.topics.raw, raw, ["validate", *LIVE])
