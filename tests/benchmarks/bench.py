"""shopstream's stream benchmark: every stage against the raw Kafka limit, in one run.

    python tests/benchmarks/bench.py [--events 200000] [--json bench.json] [--quick]
                                     [--only 1,2,3] [--rate-events 1000] [--rate-seconds 20]

(``make bench``; about 7 minutes on 2 cores with the defaults, ``--quick`` about 2.)

Uses ``KAFKA_BOOTSTRAP`` or a running local broker, else starts one (as the tests do).
Every worker run gets fresh topics (its own prefix; the default partition count, 12, or
``--partitions``), so its groups, changelogs and state start empty. Throughput runs hold
their input back: it is produced inside one Kafka transaction while the worker starts,
and committed once every stage owns its partitions, so the worker (reading
``read_committed``) sees all of it at once. A run is timed from that commit to the
moment every stage involved has *committed* its whole input: its consumer group's
offsets reach the offset after the input's last record (the transactional stages put
their offsets in the same transaction as their outputs; the sink commits after
ClickHouse took the batch). Worker start-up is not in the time.
Workers run with the recommender's retraining schedule off (a retrain after 1,000
orders would land in the middle of a run); everything else is the default, so an
unpinned worker runs its validation stage in a child process
(``SHOPSTREAM_WORKER_PROCESSES=auto`` with two cores) and a pinned one (run 8) in one.

0. warm-up, not timed (``--no-warm-up`` skips it): the N raw events through two workers
   pinned to a core each, so that the broker's JIT compiler has done most of its work
   before anything is timed (a fresh broker spends most of its CPU compiling at first);
   the broker's CPU time (found by the port it listens on, when it runs on this machine)
   is read for every worker run;
1. raw limit: a plain confluent-kafka consumer reads the N raw events (assigned, no
   group) and ``orjson.loads`` each: events/s (median of three runs), the 1.00 every
   ratio refers to;
2. the contract alone, in-process: ``models.validation.validate_bytes`` over the same bytes
   (2e: with enrichment off);
3. the validation stage alone, exactly once (worker with live and sink off, so one
   validation process per core): N raw events -> ``shop.events`` / ``shop.events.dlq``
   (3s: the same in one process, ``SHOPSTREAM_WORKER_PROCESSES=1``; 3e: with
   ``SHOPSTREAM_ENRICHMENT=false``; 3r: 3 / 3e, what enrichment leaves of the stage's rate);
4. the live stage alone: run 3's output (the canonical events, partitions kept) copied to
   a fresh ``shop.events``, a worker with the sink off and no raw input; events/s of
   canonical events, until the live stage and the trending stage it feeds (through
   ``shop.trending.updates``) have both committed everything;
5. the sink alone (worker with live off, same canonical events) against a direct insert
   of the same rows (``sinks.rows.rows_for`` + ``ClickHouseWriter``, batches of
   ``sink_batch_rows``, into a fresh embedded chDB in this process): rows/s of ``events``;
6. the whole worker (validation, live, trending, sink) on the N raw events, and on the
   same events with their event times stretched to ``--slow-rate`` events per second (10/s:
   200,000 events span 5.6 hours, 30,000 span 50 minutes: sessions and carts stay open
   for minutes to hours, carts are abandoned and sessions closed as the run goes). Same
   bytes but the timestamps, so only the span differs (the simulator run at 10/s would
   make another mix of events: it keeps rate x 20 sessions open). The ratios of their
   rates and of the workers' CPU time per event (``/proc/<pid>/stat``; it inflates too
   when the machine is busy, less than wall time) show whether the per-event cost grows
   with the event-time span;
7. latencies, whole worker, ``CART_ABANDON_AFTER=2s``, at ``--rate-events`` simulated
   events/s stamped with the wall clock for ``--rate-seconds``, after 5 s of the same
   traffic that is not timed (start-up: first transactions to each partition, first
   state entries, the clients' first requests):
   - produce -> canonical: for every simulated event, from the wall-clock time just
     before its ``produce()`` call on ``shop.events.raw`` to the time a read_committed
     consumer of ``shop.events`` (assigned to every partition, polling) first receives
     the canonical event with its messageId, i.e. when the validation stage's
     transaction holding it committed. p50 / p99 over all events;
   - deadline -> Cart Abandoned: every 0.2 s a probe shopper adds one product to a new
     cart (event time = wall clock at send, to the ms) and does nothing more, so its
     deadline is that time + 2 s. Measured from that wall-clock deadline to the time a
     read_committed consumer of ``shop.triggers.cart_abandoned`` first receives the
     cart's trigger. This covers the cart event reaching the live stage (validation
     commit), the partition's event time passing the deadline (carried by later events
     of the partition; by the wall clock only once the live stage has caught up with the
     partition), the live stage's next deadline check (every ``live_tick_s``, 0.25 s) and the
     commit of the transaction holding the trigger. p50 / p99 over the carts whose
     deadline passed while the traffic flowed; the carts whose deadline passed in its
     last second or after it stopped (no later events carry the clock: the partition
     goes idle) are reported apart, as a maximum.
   (A funnel update lives only in the live state; its changelog entry commits in the
   same transaction as a trigger would, so the trigger delay stands for both.)
8. scale-out: the N raw events on 12 partitions (``SHOPSTREAM_TOPIC_PARTITIONS=12``),
   validation, live and trending (sink off: an embedded chDB has one owner): one worker
   under ``taskset -c 0``, then two workers (``-c 0`` and ``-c 1``, own worker ids, data
   directories and ports, one topic prefix, so one consumer group per stage); the
   broker and this process are not pinned (8c: the broker's CPU per event in 8b);
9. memory: peak RSS (``VmHWM``) of every worker process (and its validation process),
   read just before it stops.

Prints one table (what | figure | ratio); ``--json PATH`` writes it too. Figures, not
asserts. The machine is shared: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.settings import load_settings  # noqa: E402
from streams.kafka.discovery import broker_for  # noqa: E402
from tests.benchmarks import runs  # noqa: E402
from tests.benchmarks.kafka_io import partition_count  # noqa: E402
from tests.benchmarks.report import Report  # noqa: E402
from tests.benchmarks.stats import percentile  # noqa: E402
from tests.benchmarks.traffic import Message, canonical_events, raw_events  # noqa: E402
from tests.benchmarks.workers import listening_pid  # noqa: E402

STEPS = {"1", "2", "3", "4", "5", "6", "7", "8"}
BROKER_STEPS = STEPS - {"2"}  # the contract alone needs no broker


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def span(events: int, rate: float) -> str:
    seconds = events / rate
    if seconds >= 7_200:
        return f"{seconds / 3_600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000,
                        help="raw events of the throughput runs (1-6, 8)")
    parser.add_argument("--fast-rate", type=float, default=1_000.0,
                        help="events per second of event time of those events")
    parser.add_argument("--slow-rate", type=float, default=10.0,
                        help="run 6b: the same events stretched to this many per second of "
                        "event time")
    parser.add_argument("--rate-events", type=float, default=1_000.0,
                        help="events per second (wall clock) of the latency run (7)")
    parser.add_argument("--rate-seconds", type=float, default=20.0,
                        help="how long the latency run sends")
    parser.add_argument("--abandon-after", type=float, default=2.0,
                        help="CART_ABANDON_AFTER of the latency run, seconds")
    parser.add_argument("--partitions", type=int, default=None,
                        help="partitions per topic of runs 1-7 (default: the settings' default, "
                        "SHOPSTREAM_TOPIC_PARTITIONS)")
    parser.add_argument("--scale-partitions", type=int, default=12,
                        help="partitions per topic of the scale-out run (8)")
    parser.add_argument("--only", default=",".join(sorted(STEPS)),
                        help="the runs to do, e.g. 1,2,3 (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 10,000 events, latency for 5 s")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                        help="skip run 0 (the raw events through two pinned workers, untimed, "
                        "so that the broker's JIT compiler is done before the timed runs)")
    parser.add_argument("--timeline", action="store_true",
                        help="print each stage's committed records once a second in every "
                             "throughput run (which stage fell behind, and when)")
    parser.add_argument("--json", type=Path, help="also write the table here as JSON")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch directory (worker logs, data)")
    parser.add_argument("--logs", type=Path,
                        default=Path(tempfile.gettempdir()) / "shopstream-bench-logs",
                        help="where the worker logs of the last run are kept (default: "
                        "%(default)s)")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.rate_seconds = min(args.events, 10_000), min(args.rate_seconds, 5.0)
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}
    if not args.only <= STEPS:
        parser.error(f"--only takes some of {','.join(sorted(STEPS))}")
    return args


@dataclass
class Session:
    """One benchmark run: its options, where it runs, the table it fills, and the peak
    memory of every worker it started (run 9, added last)."""

    args: argparse.Namespace
    lab: runs.Lab
    report: Report
    memory: list[tuple[str, list[list[float]]]] = field(default_factory=list)

    def throughput(self, key: str, what: str, result: runs.Throughput, unit: str,
                   ratio_to: str, worker: str) -> None:
        """A throughput row; the run's details (time per stage, the workers' own counts, CPU)
        go into the JSON, its workers' memory into run 9."""
        self.report.add(key, what, result.rate, unit, ratio_to)
        self.memory.append((worker, result.rss_mib))
        self.report.context.setdefault("runs", {})[key] = {
            "input": result.count, "seconds": round(result.seconds, 3),
            "stage_seconds": {k: round(v, 3) for k, v in result.stage_seconds.items()},
            "counters": result.counters,
            "peak_rss_mib": [[round(r, 1) for r in worker] for worker in result.rss_mib],
            "worker_cpu_s": [[round(c, 2) for c in worker] for worker in result.worker_cpu_s],
            "worker_cpu_us_per_record": result.cpu_per_event_us and round(result.cpu_per_event_us, 1),
            "broker_cpu_s": result.broker_cpu_s and round(result.broker_cpu_s, 2),
            "broker_cpu_us_per_record": result.broker_cpu_per_event_us
            and round(result.broker_cpu_per_event_us, 1)}
        say(f"   {result.count:,} in {result.seconds:.2f} s; {cpu_summary(result)}")


def limits(session: Session, raw: list[Message]) -> None:
    """Runs 1 and 2."""
    only, lab, report = session.args.only, session.lab, session.report
    if "1" in only:
        say("1. raw limit")
        report.add("1", "raw limit: confluent-kafka consume + orjson.loads (median of 3)",
                   runs.raw_limit(lab, raw), "ev/s", "1")
    if "2" in only:
        say("2. contract alone")
        report.add("2", "contract validation alone, in-process (validate_bytes)",
                   runs.contract_rate(raw, load_settings()), "ev/s", "1")
        report.add("2e", "the same, enrichment off (SHOPSTREAM_ENRICHMENT=false)",
                   runs.contract_rate(raw, load_settings(), enrich=False), "ev/s", "1")


def stages(session: Session, raw: list[Message]) -> None:
    """Runs 3, 4 and 5: each stage alone."""
    only, lab = session.args.only, session.lab
    canonical = None
    if "3" in only:
        say("3. validation stage alone")
        result, canonical = runs.validation_alone(lab, raw)
        session.throughput("3", "validation stage alone, exactly once (worker: live, sink off; "
                           "a validation process per core)", result, "ev/s", "1",
                           "validation-only worker (3)")
        say("3s. validation stage alone, in one process")
        single, _ = runs.validation_alone(lab, raw, env={"SHOPSTREAM_WORKER_PROCESSES": "1"},
                                          label="validate-single")
        session.throughput("3s", "the same in one process (SHOPSTREAM_WORKER_PROCESSES=1)",
                           single, "ev/s", "1", "validation-only worker, one process (3s)")
        commits, committing = single.counters["commits"], single.counters["commit_seconds"]
        if commits:  # what each commit interval costs the loop (it reads nothing meanwhile)
            session.report.add(
                "3t", f"3s: one transaction's commit, mean ({commits:,.0f} commits, "
                f"{committing / single.seconds:.0%} of the run)", committing / commits * 1000, "ms")
        say("3e. validation stage alone, enrichment off")
        plain, _ = runs.validation_alone(lab, raw, env={"SHOPSTREAM_ENRICHMENT": "false"},
                                         label="validate-plain")
        session.throughput("3e", "the same, enrichment off: 3 / 3e is what enrichment keeps",
                           plain, "ev/s", "1", "validation-only worker, enrichment off (3e)")
        session.report.add("3r", "validation stage, enrichment on / off (3 / 3e)",
                           result.rate / plain.rate, "x")
        if result.cpu_per_event_us and plain.cpu_per_event_us:
            session.report.add(
                "3c", f"the same from the workers' CPU per event, off / on "
                f"({plain.cpu_per_event_us:.0f} -> {result.cpu_per_event_us:.0f} us; steadier)",
                plain.cpu_per_event_us / result.cpu_per_event_us, "x")
    if not only & {"4", "5"}:
        return
    if canonical is None:
        canonical = canonical_events(raw, load_settings())
    if "4" in only:
        say(f"4. live stage alone ({len(canonical):,} canonical events)")
        session.throughput("4", f"live stage alone, with the trending stage it feeds "
                           f"({len(canonical):,} canonical events)",
                           runs.live_alone(lab, canonical), "ev/s", "1", "live-only worker (4)")
    if "5" in only:
        say("5. direct insert, then the sink alone")
        batch_rows = load_settings().sink_batch_rows
        session.report.add("5a", f"direct insert: rows_for + ClickHouseWriter, chDB, "
                           f"{batch_rows:,}/batch",
                           runs.direct_insert_rate(lab, canonical, batch_rows), "rows/s", "5a")
        session.throughput("5b", "sink alone: shop.events -> ClickHouse (worker: live off)",
                           runs.sink_alone(lab, canonical), "rows/s", "5a", "sink-only worker (5b)")


def whole(session: Session, raw: list[Message]) -> None:
    """Run 6: the whole worker on fast and on slow event time."""
    args, lab = session.args, session.lab
    n = len(raw)
    say("6a. whole worker")
    fast = runs.whole_worker(lab, raw, "whole")
    session.throughput("6a", f"whole worker (all stages), {span(n, args.fast_rate)} "
                       "of event time", fast, "ev/s", "1", "whole worker (6a)")
    say(f"6b. whole worker, the same events at {args.slow_rate:g} per second of event time")
    slow_raw = raw_events(n, args.fast_rate, stretch=args.fast_rate / args.slow_rate)
    slow = runs.whole_worker(lab, slow_raw, "slow")
    session.throughput("6b", f"whole worker, the same events over {span(n, args.slow_rate)} of "
                       f"event time ({args.slow_rate:g} ev/s)", slow, "ev/s", "1",
                       "whole worker, slow traffic (6b)")
    session.report.add("6c", "slow / fast whole-worker rate (1.00: cost independent of span)",
                       slow.rate / fast.rate, "x")
    if fast.cpu_per_event_us and slow.cpu_per_event_us:  # less noisy on a shared machine
        session.report.add("6d", f"slow / fast worker CPU per event ({fast.cpu_per_event_us:.0f} -> "
                           f"{slow.cpu_per_event_us:.0f} us; 1.00: independent of span)",
                           slow.cpu_per_event_us / fast.cpu_per_event_us, "x")


def latencies(session: Session) -> None:
    """Run 7."""
    args, report = session.args, session.report
    say(f"7. latency at {args.rate_events:g} events/s for {args.rate_seconds:g} s")
    lat = runs.latency(session.lab, args.rate_events, args.rate_seconds, args.abandon_after)
    if lat.canonical_ms:
        report.add("7a", f"produce -> canonical committed on shop.events, p50 "
                   f"({len(lat.canonical_ms):,} events)", percentile(lat.canonical_ms, 50), "ms")
        report.add("7b", "produce -> canonical committed on shop.events, p99",
                   percentile(lat.canonical_ms, 99), "ms")
    if lat.funnel_ms:
        report.add("7f", f"produce -> funnel update committed (the live stage's transaction), "
                   f"p50 ({len(lat.funnel_ms):,} events)", percentile(lat.funnel_ms, 50), "ms")
        report.add("7g", "produce -> funnel update committed, p99",
                   percentile(lat.funnel_ms, 99), "ms")
    if lat.trigger_ms:
        report.add("7c", f"deadline -> Cart Abandoned committed, p50 ({len(lat.trigger_ms)} "
                   f"carts, abandon after {args.abandon_after:g} s)",
                   percentile(lat.trigger_ms, 50), "ms")
        report.add("7d", "deadline -> Cart Abandoned committed, p99",
                   percentile(lat.trigger_ms, 99), "ms")
    if lat.idle_trigger_ms:
        report.add("7e", f"the same, deadline in the traffic's last second or after, max "
                   f"({len(lat.idle_trigger_ms)} carts)", max(lat.idle_trigger_ms), "ms")
    found = len(lat.canonical_ms) + len(lat.trigger_ms) + len(lat.idle_trigger_ms)
    if found < lat.sent + lat.carts:
        say(f"7. missing: {lat.sent + lat.carts - found} events or triggers never seen")
    session.memory.append((f"whole worker at {args.rate_events:g} ev/s (7)", lat.rss_mib))


def scale_out(session: Session, raw: list[Message]) -> None:
    """Run 8."""
    p = session.args.scale_partitions
    say(f"8. scale-out, {p} partitions: one pinned worker")
    one = runs.pinned(session.lab, raw, ["0"], p)
    session.throughput("8a", f"one worker, taskset -c 0 (sink off, {p} partitions)", one,
                       "ev/s", "1", "one pinned worker (8a)")
    say("8. scale-out: two pinned workers")
    two = runs.pinned(session.lab, raw, ["0", "1"], p)
    session.throughput("8b", "two workers, taskset -c 0 and -c 1 (same groups)", two,
                       "ev/s", "8a", "two pinned workers (8b), the larger")
    # what the two cores had left for the workers: the broker shares them
    if one.broker_cpu_per_event_us is not None and two.broker_cpu_per_event_us is not None \
            and one.cpu_per_event_us and two.cpu_per_event_us:
        session.report.add("8c", f"the broker's CPU per event in 8b (8a: "
                           f"{one.broker_cpu_per_event_us:.0f} us; the workers' 8a -> 8b: "
                           f"{one.cpu_per_event_us:.0f} -> {two.cpu_per_event_us:.0f} us)",
                           two.broker_cpu_per_event_us, "us")


def cpu_summary(run: runs.Throughput) -> str:
    """The workers' CPU time during a run (each worker's processes) and the broker's."""
    cpu = " | ".join(" + ".join(f"{c:.1f}" for c in worker) for worker in run.worker_cpu_s)
    broker = "" if run.broker_cpu_s is None else (
        f", broker {run.broker_cpu_s:.1f} s ({run.broker_cpu_per_event_us:.0f} us/event)")
    # when each stage had committed all of its input: which one the run waited for
    done = ", ".join(f"{stage} {at:.1f}" for stage, at in run.stage_seconds.items())
    return f"worker CPU {cpu} s{broker}; done at {done} s"


def warm_up(session: Session, raw: list[Message], passes: int = 3, settled: float = 0.1) -> None:
    """Run 0, not timed: the raw events through two pinned workers, at most ``passes``
    times (once with ``--quick``), fewer if the broker's CPU per event falls by less than
    ``settled`` from one pass to the next (or cannot be read), so that the broker's JIT
    compiler has done most of its work before anything is timed. On a fresh broker the
    compiler threads took 54-63% of its CPU at first; through two pinned workers it spent
    44-54 us per event in a first pass, 19-43 in a third, and 13-19 in the runs after
    three; two pinned workers ran at 1.15-1.46x of one on a fresh broker, at 1.53-1.68x
    once it had seen a few runs."""
    cpus = ["0", "1"] if (os.cpu_count() or 1) > 1 else ["0"]
    passes = 1 if session.args.quick else passes
    say(f"0. warming the broker up: {len(raw):,} events through {len(cpus)} pinned worker(s), "
        f"{passes} pass(es) at most")
    before = None
    for n in range(1, passes + 1):
        result = runs.pinned(session.lab, raw, cpus, session.args.scale_partitions, label="warmup")
        say(f"   pass {n}: {result.rate:,.0f} ev/s; {cpu_summary(result)}")
        now = result.broker_cpu_per_event_us
        session.report.context.setdefault("warm_up", []).append({
            "rate": round(result.rate), "seconds": round(result.seconds, 3),
            "worker_cpu_s": [[round(c, 2) for c in worker] for worker in result.worker_cpu_s],
            "broker_cpu_us_per_record": now and round(now, 1)})
        if now is None or (before is not None and now > before * (1 - settled)):
            break
        before = now


def measure(session: Session) -> None:
    only = session.args.only
    say(f"simulating {session.args.events:,} raw events ...")
    raw = raw_events(session.args.events, session.args.fast_rate)
    if session.args.warm_up and only & BROKER_STEPS:
        warm_up(session, raw)
    limits(session, raw)
    stages(session, raw)
    if "6" in only:
        whole(session, raw)
    if "7" in only:
        latencies(session)
    if "8" in only:
        scale_out(session, raw)
    for i, (what, workers) in enumerate(session.memory):  # run 9
        if any(workers):
            processes = max(workers, key=sum)  # the largest worker's processes
            parts = " + ".join(f"{p:.0f}" for p in processes)
            split = f": {parts} (worker, validation process)" if len(processes) > 1 else ""
            session.report.add(f"9{chr(ord('a') + i)}", f"peak RSS, {what}{split}",
                               sum(processes), "MiB")


def local_pid(bootstrap: str) -> int | None:
    """The broker's process when it runs on this machine (its CPU is read with each run): the
    ``kafka.Kafka`` process listening on the bootstrap's port; else None."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    if host.strip("[]") not in {"127.0.0.1", "localhost", "::1", "0.0.0.0"} or not port.isdigit():
        return None
    pid = listening_pid(int(port))
    if pid is None:
        return None
    try:  # a broker in a container is behind a proxy process: that one's CPU is not the broker's
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return pid if b"kafka.Kafka" in cmdline.read() else None
    except OSError:
        return None


def keep_logs(workdir: Path, logs: Path) -> Path:
    """Copy the run's worker logs (not their data) to ``logs``, replacing the last run's: a
    surprising figure can be looked into after the scratch directory is gone."""
    shutil.rmtree(logs, ignore_errors=True)
    for log in workdir.rglob("*.log"):
        target = logs / log.relative_to(workdir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, target)
    return logs


# more partitions than this on the broker before the run (left by tests or other runs): its
# CPU per event was measured 2-3x higher with 857 (2026-12-02), which lowers run 8's figures
CROWDED_PARTITIONS = 200


def warn_if_crowded(bootstrap: str) -> int:
    """The partitions the broker holds before the run; said when that is many."""
    partitions = partition_count(bootstrap)
    if partitions > CROWDED_PARTITIONS:
        say(f"note: the broker already holds {partitions:,} partitions (tests or other runs "
            f"left them); a broker that busy costs more per event, which lowers the scale-out "
            f"figures: a fresh broker reads truer")
    return partitions


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = Report(context={"events": args.events, "fast_rate": args.fast_rate,
                             "slow_rate": args.slow_rate, "rate_events": args.rate_events,
                             "rate_seconds": args.rate_seconds, "partitions": args.partitions,
                             "scale_partitions": args.scale_partitions,
                             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    workdir = Path(tempfile.mkdtemp(prefix="shopstream-bench-"))
    started = time.monotonic()
    ok = False
    try:
        with broker_for(load_settings(), log=say) as broker:
            lab = runs.Lab(broker.bootstrap, workdir, args.partitions, local_pid(broker.bootstrap),
                           args.timeline)
            report.context["broker_partitions_before"] = warn_if_crowded(broker.bootstrap)
            measure(Session(args, lab, report))
        ok = True
    finally:
        report.context["seconds"] = round(time.monotonic() - started, 1)
        if report.rows:
            print(report.table())
            if args.json:
                report.write_json(args.json)
        if ok and not args.keep:
            say(f"worker logs kept in {keep_logs(workdir, args.logs)}")
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"worker logs and data kept in {workdir}")
    say(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
