"""Soak: exactly-once under repeated crashes (``make soak``).

    python -m tests.soak.run [--events 1000000] [--kills 10] [--seed 1]
                             [--no-broker-restart] [--no-clickhouse-outage] [--keep]

1. Builds the input: ``--events`` simulated events (``--malformed``, ``--duplicates``
   resends, a share ``--late`` sent later than their turn), each judged by the contract
   offline; starts its own local broker (``KAFKA_BOOTSTRAP`` when set: then the broker is
   not restarted), a data directory under a temporary directory, a unique topic prefix.
2. Produces the input to ``shop.events.raw`` (one idempotent producer, in order) while ONE
   worker (``python -m streams.cli.main worker``) runs; at seeded random moments (points of
   its input the slowest stage has committed, plus a seeded delay) the worker, with its
   stage processes, is SIGKILLed and restarted, ``--kills`` times; once the broker is
   stopped and started again on the same port and data; once ClickHouse is unavailable for
   ``--outage-seconds`` (another process holds the embedded chDB across one kill and
   restart, so the new worker cannot open it). After the broker restart and after
   ClickHouse comes back the same worker must carry on by itself.
3. Waits, printing progress, until every stage has caught up (a condition with a
   deadline). A stage that commits nothing for ``--stall-seconds`` is a stall: recorded
   (a failed check), every thread's stack shown, the worker killed and restarted.
4. Checks, and prints a table: ``shop.events`` and ClickHouse ``events`` hold each valid
   messageId once (count(), uniqExact(event_id), the kpi_minute rollup, missing and extra
   ids); the dead letters are exactly the invalid inputs (by source partition, offset and
   bytes); every trigger id is published once, and the triggers up to each partition's
   latest event time equal those of the live logic replayed offline over ``shop.events``
   (``tests/soak/reference.py``). Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from tests.soak.inputs import LATENESS_S, Inputs, build_inputs
from tests.support import REPO, Record, WorkerProcess, read_topic

# The live durations of the soak, for the worker and the offline replay alike: short enough
# that every trigger type fires within a short run's event time.
LIVE_ENV = {
    "CART_ABANDON_AFTER": "300",
    "SHOPSTREAM_ALLOWED_LATENESS_S": str(LATENESS_S),
    "SHOPSTREAM_POST_PURCHASE_AFTER_DAYS": "0.005",   # 7.2 minutes
    "SHOPSTREAM_WINBACK_AFTER_DAYS": "0.01",          # 14.4 minutes
}
WORKER_ENV = {
    "SHOPSTREAM_SESSION_TIMEOUT_S": "6",      # a killed worker's partitions move on soon
    "SHOPSTREAM_SINK_MAX_BACKOFF_S": "5",     # retry ClickHouse at least this often
    "SHOPSTREAM_RECO_SCHEDULE_ENABLED": "false",
}
DIAG = Path(__file__).resolve().parent / "diag"  # sitecustomize: SIGPWR dumps the stacks
MIN_UP_S = 3.0          # a worker runs at least this long before the next disruption
BASE_WINDOW_S = 15.0    # idle advance of a live partition in normal running (see reference.py)
PROGRESS_EVERY_S = 5.0
STOP_TIMEOUT_S = 30.0
MAX_STALLS = 2          # stuck workers restarted before the run gives up on its deadline


def log(message: str) -> None:
    print(message, flush=True)


def fmt(n: float) -> str:
    return f"{n:,.0f}" if isinstance(n, int) or float(n).is_integer() else f"{n:,.2f}"


# ---------------------------------------------------------------------------------- Kafka


class Watch:
    """What the stages have committed, read from the broker (so it survives worker kills):
    for each consumer group under the topic prefix, its committed offsets per topic."""

    def __init__(self, bootstrap: str, prefix: str, raw: str, events: str, n_raw: int,
                 n_events: int) -> None:
        self.bootstrap = bootstrap
        self.admin = self._client()
        self.prefix, self.raw, self.events = prefix, raw, events
        self.n_raw, self.n_events = n_raw, max(n_events, 1)
        self.error = ""
        self.sums: dict[str, int] = {}   # group -> committed offsets, summed (moves = progress)

    def _client(self) -> Any:
        from confluent_kafka.admin import AdminClient

        # quiet: refused connections while the broker restarts are expected
        return AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})

    def committed(self) -> dict[str, dict[str, dict[int, int]]]:
        try:
            return self._committed()
        except Exception:
            # after a broker restart a client can keep timing out: start afresh once
            self.admin = self._client()
            return self._committed()

    def _committed(self) -> dict[str, dict[str, dict[int, int]]]:
        from confluent_kafka import ConsumerGroupTopicPartitions

        out: dict[str, dict[str, dict[int, int]]] = {}
        listing = self.admin.list_consumer_groups(request_timeout=5).result(timeout=10)
        for group in sorted(g.group_id for g in listing.valid):
            if not group.startswith(self.prefix):
                continue
            request = [ConsumerGroupTopicPartitions(group)]
            result = self.admin.list_consumer_group_offsets(request, request_timeout=5)[group]
            for tp in result.result(timeout=10).topic_partitions or []:
                if tp.offset >= 0 and tp.topic in (self.raw, self.events):
                    out.setdefault(group, {}).setdefault(tp.topic, {})[tp.partition] = tp.offset
        return out

    def progress(self) -> dict[str, float] | None:
        """Stage (group) -> share of its input committed; None while the broker is away."""
        try:
            committed = self.committed()
        except Exception as exc:  # noqa: BLE001 - broker restarting, a timeout: unknown for now
            self.error = repr(exc)
            return None
        self.error = ""
        shares: dict[str, float] = {}
        self.sums = {g[len(self.prefix):]: sum(sum(o.values()) for o in t.values())
                     for g, t in committed.items()}
        for group, topics in committed.items():
            label = group[len(self.prefix):]
            for topic, offsets in topics.items():
                total = self.n_raw if topic == self.raw else self.n_events
                # offsets count transaction markers on shop.events: a share, capped at 1
                shares[f"{label}"] = min(1.0, sum(offsets.values()) / total)
        return shares


@dataclass
class Produced:
    """Delivery reports of the input: (partition, offset) of message i."""

    where: list[tuple[int, int] | None]
    errors: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    seconds: float = 0.0

    def ends(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for item in self.where:
            if item is not None:
                out[item[0]] = max(out.get(item[0], 0), item[1] + 1)
        return out


def produce(bootstrap: str, topic: str, inputs: Inputs, rate: float = 0.0,
            log_file: Path | None = None) -> Produced:
    """One idempotent producer, every message in order, keyed as the simulator keys them;
    paced to ``rate`` messages a second when given (so that disruptions meet a flowing
    stream even in a short run). Its client's warnings go to ``log_file`` (a producer that
    stalls after a broker restart says why there)."""
    import logging

    from confluent_kafka import Producer

    client_log: dict[str, Any] = {"log_level": 0}
    if log_file is not None:
        logger = logging.getLogger("soak-producer")
        logger.propagate = False
        logger.addHandler(logging.FileHandler(log_file))
        logger.setLevel(logging.INFO)
        client_log = {"log_level": 6, "logger": logger}

    produced = Produced([None] * len(inputs))

    def delivered(index: int, err: Any, msg: Any) -> None:
        if err is not None:
            produced.errors.append(f"message {index}: {err}")
        else:
            produced.where[index] = (msg.partition(), msg.offset())

    def run() -> None:
        started = time.monotonic()
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                             "acks": "all", "linger.ms": 20, "compression.type": "lz4",
                             "delivery.timeout.ms": 600_000, **client_log})
        try:
            for index, (key, value) in enumerate(zip(inputs.keys, inputs.values, strict=True)):
                while True:
                    try:
                        producer.produce(topic, value, key, on_delivery=partial(delivered, index))
                        break
                    except BufferError:
                        producer.poll(0.1)
                producer.poll(0)
                if rate > 0 and index % 50 == 0:
                    ahead = started + index / rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)  # pacing, not waiting on a condition
            left = producer.flush(600)
            if left:
                produced.errors.append(f"{left} messages not delivered after 600 s")
        except Exception as exc:  # noqa: BLE001 - reported as a failed run
            produced.errors.append(f"producer failed: {exc!r}")
        finally:
            produced.seconds = time.monotonic() - started
            produced.done.set()

    threading.Thread(target=run, name="soak-producer", daemon=True).start()
    return produced


# --------------------------------------------------------------------------------- worker


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the worker runs stages in child processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def settled(path: Path, size: int, timeout: float = 5.0) -> None:
    """Wait until the log has grown past ``size`` and stopped growing (the stack dump is
    written), or ``timeout`` passed (then what is there is shown)."""
    deadline, last = time.monotonic() + timeout, size
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = path.stat().st_size
        if now > size and now == last:
            return
        last = now


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


class SoakWorker(WorkerProcess):
    """The worker with whatever processes it runs its stages in: a crash kills them all at
    once (frozen first, so that none notices the others dying and stops gracefully)."""

    def tree(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        return [self.process.pid, *descendants(self.process.pid)]

    def kill(self) -> None:
        tree = self.tree()
        if not tree:
            return
        signal_all(tree, signal.SIGSTOP)
        tree = sorted(set(tree) | set(self.tree()))  # anything forked meanwhile
        signal_all(tree, signal.SIGSTOP)
        signal_all(tree, signal.SIGKILL)
        self.killed = tree
        assert self.process is not None
        self.process.wait(30)


class Supervisor:
    """The one worker: started, killed, restarted; an exit nobody asked for is noted and the
    worker started again (as a supervisor would)."""

    def __init__(self, worker: SoakWorker, deadline: float) -> None:
        self.worker, self.deadline = worker, deadline
        self.kills = 0
        self.unplanned: list[str] = []
        self.failed_starts = 0
        self.up_since = 0.0

    @property
    def running(self) -> bool:
        return self.worker.process is not None and self.worker.process.poll() is None

    def up_for(self) -> float:
        return time.monotonic() - self.up_since if self.running else 0.0

    def start(self) -> None:
        while True:
            try:
                started = time.monotonic()
                self.worker.start(timeout=max(30.0, min(180.0, self.deadline - time.monotonic())))
                self.up_since = time.monotonic()
                log(f"worker #{self.worker.starts} (pid {self.worker.process.pid}) owns its "
                    f"partitions after {time.monotonic() - started:.1f}s")
                return
            except AssertionError as exc:
                self.failed_starts += 1
                if self.worker.process is not None:
                    self.worker.kill()
                log(f"worker #{self.worker.starts} did not start: {exc}")
                if time.monotonic() > self.deadline or self.failed_starts > 5:
                    raise

    def kill(self) -> None:
        self.worker.kill()
        self.kills += 1
        pids = ", ".join(str(p) for p in getattr(self.worker, "killed", []))
        log(f"SIGKILL worker #{self.worker.starts}, processes {pids} (kill {self.kills})")

    def check(self, broker_up: bool = True) -> None:
        """Restart the worker if it exited on its own."""
        process = self.worker.process
        if process is None or process.poll() is None:
            return
        note = f"worker #{self.worker.starts} exited by itself with {process.returncode}"
        if not self.unplanned or self.unplanned[-1] != note:
            self.unplanned.append(note)
            log(f"!! {note}; its log ends:\n{self.worker.log_tail(15)}")
        if broker_up:
            self.start()


def hold_clickhouse(path: Path) -> subprocess.Popen[bytes]:
    """Another process opens the embedded ClickHouse: chDB allows one owner at a time."""
    path.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, clickhouse_connect; c = clickhouse_connect."
         f"get_client(dsn='chdb://{path}'); c.query('SELECT 1'); print('held', flush=True);"
         " sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO)
    assert holder.stdout is not None
    line = holder.stdout.readline().strip()
    if line != b"held":
        holder.kill()
        raise AssertionError(f"could not hold ClickHouse at {path} (got {line!r})")
    return holder


# --------------------------------------------------------------------------------- checks


@dataclass
class Check:
    name: str
    expected: Any
    actual: Any
    ok: bool
    detail: str = ""


def ids_detail(missing: Any, extra: Any, twice: Any, limit: int = 10) -> str:
    parts = []
    for label, items in (("missing", missing), ("extra", extra), ("twice", twice)):
        items = sorted(items)
        if items:
            shown = ", ".join(str(i) for i in items[:limit])
            parts.append(f"{label} {len(items)}: {shown}{' ...' if len(items) > limit else ''}")
    return "; ".join(parts)


def check_canonical(events: list[Record], expected: set[str]) -> Check:
    copies = Counter(str(orjson.loads(r.value).get("messageId")) for r in events)
    got = set(copies)
    twice = [m for m, n in copies.items() if n > 1]
    ok = got == expected and not twice and len(events) == len(expected)
    return Check("shop.events: canonical events, each valid messageId once", len(expected),
                 len(events), ok, ids_detail(expected - got, got - expected, twice))


def check_clickhouse(worker: WorkerProcess, expected: set[str]) -> list[Check]:
    totals = worker.sql("SELECT count() AS n, uniqExact(event_id) AS u FROM events")[0]
    rollup = worker.sql("SELECT sum(event_count) AS n FROM kpi_minute")[0]["n"]
    copies: Counter[str] = Counter()
    for part in range(16):  # the ids in slices, so no one answer is huge
        for row in worker.sql("SELECT event_id AS id, count() AS c FROM events "
                              f"WHERE cityHash64(event_id) % 16 = {part} GROUP BY event_id"):
            copies[str(row["id"])] += int(row["c"])
    got = set(copies)
    twice = [m for m, n in copies.items() if n > 1]
    detail = ids_detail(expected - got, got - expected, twice)
    n = len(expected)
    return [
        Check("ClickHouse events: count()", n, int(totals["n"]), int(totals["n"]) == n, detail),
        Check("ClickHouse events: uniqExact(event_id)", n, int(totals["u"]), int(totals["u"]) == n),
        Check("ClickHouse events: the valid messageIds, none missing, none extra, none twice",
              n, len(got), got == expected and not twice),
        Check("ClickHouse kpi_minute: sum(event_count) (a row written twice counts twice)", n,
              int(rollup or 0), int(rollup or 0) == n),
    ]


def payload_of(letter: dict[str, Any]) -> bytes:
    text = letter.get("payload") or ""
    if letter.get("payload_encoding") == "base64":
        return base64.b64decode(text)
    return str(text).encode()


def check_dead_letters(dlq: list[Record], inputs: Inputs, produced: Produced,
                       raw_topic: str) -> list[Check]:
    expected: Counter[tuple[int, int, bytes]] = Counter()
    for index in inputs.invalid:
        where = produced.where[index]
        if where is not None:
            expected[(where[0], where[1], inputs.values[index])] += 1
    got: Counter[tuple[int, int, bytes]] = Counter()
    others: Counter[str] = Counter()
    for record in dlq:
        letter = orjson.loads(record.value)
        source = letter.get("source") or {}
        if letter.get("stage") == "validate" and source.get("topic") == raw_topic:
            got[(int(source["partition"]), int(source["offset"]), payload_of(letter))] += 1
        else:
            others[f"{letter.get('stage')} from {source.get('topic')}"] += 1
    missing = [f"{p}@{o}" for (p, o, _), n in (expected - got).items() for _ in range(n)]
    extra = [f"{p}@{o}" for (p, o, _), n in (got - expected).items() for _ in range(n)]
    twice = [f"{p}@{o}" for (p, o, _), n in got.items() if n > 1]
    return [
        Check("dead letters: the invalid inputs (source partition, offset, bytes), each once",
              sum(expected.values()), sum(got.values()), got == expected,
              ids_detail(missing, extra, twice)),
        Check("dead letters from other stages (live, sink)", 0, sum(others.values()),
              not others, ", ".join(f"{k}: {v}" for k, v in others.items())),
    ]


def check_triggers(triggers: list[Record], events: list[Record], window_s: float) -> tuple[
        list[Check], list[str]]:
    from models.settings import load_settings
    from streams.live.state import LiveConfig
    from tests.soak.reference import compare, replay

    started = time.monotonic()
    ref = replay(events, LiveConfig.from_settings(load_settings()))
    published = [orjson.loads(r.value) for r in triggers]
    report = compare(published, ref, int(window_s * 1000))
    notes = [f"reference: the live logic replayed offline over {len(events):,} events of "
             f"shop.events in {time.monotonic() - started:.1f}s: {report.reference:,} triggers"]
    for kind, (worker_n, ref_n) in report.by_type.items():
        notes.append(f"  {kind:<16} worker {worker_n:>7,}  reference {ref_n:>7,}")
    beyond = sum(report.beyond.values())
    notes.append(f"published after their partition's latest event time (the idle wall clock "
                 f"moved them on; not compared): {beyond:,} "
                 f"({', '.join(f'{k} {v}' for k, v in sorted(report.beyond.items())) or 'none'})")
    if report.excused:
        notes.append(f"mismatches put down to the worker's idle wall-clock advance (a cancelling "
                     f"event within {window_s:.0f}s before the deadline): {len(report.excused)}")
        notes.extend(f"  {t.type} {t.trigger_id} time {t.time} user {t.user} cart {t.cart_id} "
                     f"order {t.order_id}" for t in report.excused[:20])
    if ref.not_canonical:
        notes.append(f"!! {ref.not_canonical} records on shop.events are not canonical events")
    unexplained = report.unexplained
    missing = [f"{t.type}:{t.trigger_id}@{t.time}" for t in report.missing if t in unexplained]
    extra = [f"{t.type}:{t.trigger_id}@{t.time}" for t in report.extra + report.unknown_shopper
             if t in unexplained]
    dups = [f"{tid} x{n}" for tid, n in report.duplicate_ids.items()]
    checks = [
        Check("triggers: every trigger id published once", report.published - sum(
            n - 1 for n in report.duplicate_ids.values()), report.published,
            not report.duplicate_ids, ids_detail([], [], dups)),
        Check("triggers up to the partition's latest event = the offline replay "
              "(id, type, time)", report.reference, report.compared,
              not unexplained, ids_detail(missing, extra, [])),
    ]
    for t in unexplained[:3]:  # what the shopper did, to explain a mismatch by hand
        notes.extend(shopper_story(t, events, published))
    return checks, notes


def shopper_story(t: Any, events: list[Record], published: list[dict[str, Any]]) -> list[str]:
    """A mismatched trigger's shopper: their events on shop.events and their triggers."""
    lines = [f"  {t.type} {t.trigger_id} at {t.time}, shopper {t.user}, cart {t.cart_id}:"]
    bodies = [(r, orjson.loads(r.value)) for r in events]
    devices = {(r.partition, r.key) for r, body in bodies  # the devices that used the cart
               if t.cart_id and (body.get("properties") or {}).get("cart_id") == t.cart_id}
    for r, body in bodies:
        if t.user in (body.get("userId"), body.get("anonymousId")) or (
                (r.partition, r.key) in devices):
            props = body.get("properties") or {}
            lines.append(f"    event p{r.partition}@{r.offset} key={r.key!r} {body.get('timestamp')} "
                         f"{body.get('event') or body.get('type')} cart={props.get('cart_id')} "
                         f"user={body.get('userId')} anon={body.get('anonymousId')} "
                         f"received={body.get('receivedAt')}")
    lines.extend(f"    trigger {p['type']} {p['trigger_id']} time={p['time']} "
                 f"emitted={p.get('emitted_at')}" for p in published
                 if t.user in (p.get("user_id"), p.get("anonymous_id")))
    return lines


# ------------------------------------------------------------------------------------ run


@dataclass
class Action:
    point: float      # share of its input the slowest (or furthest) stage committed
    kind: str         # kill, broker
    delay: float      # seeded extra wait after the point, seconds
    outage: bool = False


def plan(args: argparse.Namespace, can_restart_broker: bool) -> list[Action]:
    rng = random.Random(args.seed)
    actions = [Action(rng.uniform(0.05, 0.85), "kill", rng.uniform(0, 2)) for _ in range(args.kills)]
    if args.clickhouse_outage:
        if actions:
            actions[rng.randrange(len(actions))].outage = True
        else:  # no kills asked for: the outage goes around a graceful restart
            actions.append(Action(rng.uniform(0.2, 0.6), "restart", 0.0, outage=True))
    if args.broker_restart and can_restart_broker:
        actions.append(Action(rng.uniform(0.2, 0.7), "broker", rng.uniform(0, 2)))
    return sorted(actions, key=lambda a: a.point)


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        from models.settings import load_settings

        self.args = args
        self.started = time.monotonic()
        self.deadline = self.started + args.timeout
        self.workdir = Path(args.workdir or tempfile.mkdtemp(prefix="shopstream-soak-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.prefix = f"soak{uuid.uuid4().hex[:8]}."
        os.environ.update(LIVE_ENV)  # the worker inherits them; the replay reads them
        self.settings = load_settings(topic_prefix=self.prefix, data_dir=self.workdir / "data")
        self.topics = self.settings.topics
        self.checks: list[Check] = []
        self.notes: list[str] = []
        self.figures: dict[str, str] = {}
        self.last_progress: dict[str, float] | None = None
        self.last_rows: int | None = None
        self.shown = 0.0
        self.window_s = BASE_WINDOW_S
        self.blocked_seen = False
        self.gave_up = ""
        self.stalls: list[str] = []
        self.last_disruption = ("none", time.monotonic())

    # -- progress ----------------------------------------------------------------------
    def show(self, force: bool = False, note: str = "") -> None:
        if not force and time.monotonic() - self.shown < PROGRESS_EVERY_S:
            return
        self.shown = time.monotonic()
        shares = self.last_progress
        stages = (f"unknown ({self.watch.error[:200]})" if shares is None else
                  " ".join(f"{k} {v:.0%}" for k, v in sorted(shares.items())) or "nothing yet")
        rows = self.worker.worker.sql_or_none("SELECT count() AS n FROM events") \
            if self.worker.running else None
        if rows is not None:
            self.last_rows = int(rows[0]["n"])
        ch = "unavailable" if rows is None else f"{self.last_rows:,}"
        up = f"up {self.worker.up_for():.0f}s" if self.worker.running else "down"
        log(f"[{time.monotonic() - self.started:6.0f}s] worker #{self.worker.worker.starts} {up} | "
            f"committed: {stages} | ClickHouse rows {ch} | kills {self.worker.kills}"
            f"{' | ' + note if note else ''}")

    def poll(self, broker_up: bool = True) -> dict[str, float] | None:
        self.worker.check(broker_up)
        self.last_progress = self.watch.progress() if broker_up else None
        self.show()
        return self.last_progress

    def wait(self, what: str, condition: Callable[[], bool], every: float = 0.5) -> bool:
        """Poll ``condition`` until true or the run's deadline; on giving up, say what was last
        seen. A stall (no stage commits anything for ``--stall-seconds`` while the worker
        runs) is recorded as a failure, with every thread's stack, and the worker is killed
        and started again, as a liveness probe would, so the run still checks its data."""
        seen, since = None, time.monotonic()
        while True:
            if condition():
                return True
            now = time.monotonic()
            if self.watch.sums != seen or not self.worker.running:
                seen, since = dict(self.watch.sums), now
            if now - since > self.args.stall_seconds and len(self.stalls) < MAX_STALLS:
                self.stalls.append(f"worker #{self.worker.worker.starts} committed nothing for "
                                   f"{now - since:.0f}s while waiting for {what} (last "
                                   f"disruption: {self.last_disruption[0]}, "
                                   f"{now - self.last_disruption[1]:.0f}s before)")
                self.show(force=True, note=f"STALLED: {self.stalls[-1]}")
                self.dump_stacks()
                self.worker.worker.kill()
                log(f"killed the stuck worker #{self.worker.worker.starts}; starting it again")
                self.worker.start()
                seen, since = None, time.monotonic()
                continue
            if now > self.deadline:
                self.show(force=True, note=f"GAVE UP waiting for {what}")
                self.gave_up = f"waiting for {what}"
                return False
            time.sleep(every)

    def dump_stacks(self) -> None:
        """Every thread's stack of each process of the stuck worker, from its log (SIGPWR:
        see ``tests/soak/diag/sitecustomize.py``); the worker runs on."""
        path = self.worker.worker.log_path
        for pid in self.worker.worker.tree():
            size = path.stat().st_size
            signal_all([pid], signal.SIGPWR)
            settled(path, size)
            with open(path, "rb") as f:
                f.seek(size)
                dump = f.read().decode(errors="replace")
            lines = [line for line in dump.splitlines()
                     if line.startswith(("Thread 0x", "Current thread", "  File"))]
            log(f"!! worker #{self.worker.worker.starts} made no progress; threads of pid {pid}:\n"
                + ("\n".join(lines[:200]) or "(no stacks written)"))

    # -- the run -------------------------------------------------------------------------
    def run(self) -> int:
        from streams.kafka.admin import ensure_topics
        from streams.stages.validation import rules_from
        from tests.soak.broker import SoakBroker

        args = self.args
        log(f"soak: {args.events:,} events, {args.kills} kills, seed {args.seed}, broker restart "
            f"{'yes' if args.broker_restart else 'no'}, ClickHouse outage "
            f"{f'{args.outage_seconds:.0f}s' if args.clickhouse_outage else 'no'}; "
            f"work dir {self.workdir}, topic prefix {self.prefix}")
        t0 = time.monotonic()
        self.inputs = build_inputs(args.events, args.seed, args.rate, args.malformed,
                                   args.duplicates, args.late, rules_from(self.settings), log)
        log(f"input: {self.inputs.summary()} (built in {time.monotonic() - t0:.1f}s)")
        self.broker = SoakBroker(self.workdir / "kafka", log).start()
        try:
            return self._run(ensure_topics)
        finally:
            self.broker.stop()

    def _run(self, ensure_topics: Callable[..., Any]) -> int:
        args = self.args
        bootstrap = self.broker.bootstrap
        ensure_topics(self.settings, bootstrap)
        expected = self.inputs.expected_ids
        self.watch = Watch(bootstrap, self.prefix, self.topics.raw, self.topics.events,
                           len(self.inputs), len(expected))
        self.worker = Supervisor(
            SoakWorker(bootstrap, self.prefix, self.workdir / "data", env={
                **WORKER_ENV, "PYTHONPATH": os.pathsep.join(
                    p for p in (str(DIAG), os.environ.get("PYTHONPATH")) if p)}),
            self.deadline)
        actions = plan(args, self.broker.can_restart)
        if args.broker_restart and not self.broker.can_restart:
            self.notes.append("broker restart skipped: KAFKA_BOOTSTRAP names a broker this run "
                              "does not own")
        log("plan: " + (", ".join(f"{a.kind}{' + ClickHouse outage' if a.outage else ''} at "
                                  f"{a.point:.0%}" for a in actions) or "no disruptions"))
        run_started = time.monotonic()
        self.worker.start()
        produced = produce(bootstrap, self.topics.raw, self.inputs, args.produce_rate,
                           log_file=self.workdir / "producer.log")
        completed = True
        moved_from: dict[str, float] = {}
        for action in actions:
            def due(action: Action = action) -> bool:
                shares = self.poll()
                pick = min if self.args.points_on == "slowest" else max
                return (shares is not None and len(shares) > 0
                        and pick(shares.values()) >= action.point
                        and self.worker.up_for() >= MIN_UP_S)
            if not self.wait(f"{action.point:.0%} progress for the next {action.kind}", due):
                completed = False
                break
            self.settle(moved_from)
            time.sleep(action.delay)
            self.last_disruption = (f"{action.kind}{' + ClickHouse outage' if action.outage else ''}",
                                    time.monotonic())
            if action.kind == "broker":
                self.restart_broker()
            else:
                self.restart_worker(action)
            self.poll()  # what the stages had committed when the disruption ended
            moved_from = dict(self.last_progress or {})
        def all_sent() -> bool:
            self.poll()
            return produced.done.is_set()

        if completed:
            completed = self.wait("the input to be produced", all_sent)
        if produced.errors:
            self.checks.append(Check("input produced", len(self.inputs), "errors", False,
                                     "; ".join(produced.errors[:5])))
            completed = False
        delivered = sum(1 for where in produced.where if where is not None)
        self.figures["produce"] = (f"{produced.seconds:.1f}s" if produced.done.is_set() else
                                   f"not finished: {delivered:,} of {len(self.inputs):,} "
                                   "delivered (producer.log in the work dir)")
        events: list[Record] = []
        if completed:
            completed, events = self.catch_up(produced)
        caught_up_at = time.monotonic()
        took = caught_up_at - run_started
        self.checks.insert(0, Check("every stage caught up", "yes", "yes" if completed else "no",
                                    completed, "" if completed else
                                    f"gave up after {time.monotonic() - self.started:.0f}s "
                                    f"{self.gave_up}"))
        self.checks.insert(1, Check("no stage stalled (a stuck worker is killed and restarted)",
                                    0, len(self.stalls), not self.stalls, "; ".join(self.stalls)))
        if not events:
            events = read_topic(bootstrap, self.topics.events, timeout=600)
        self.verify(events, produced)
        self.stop_worker()
        self.figures.update({
            "messages in": f"{len(self.inputs):,}",
            "worker run (first start to caught up)": f"{took:.1f}s",
            "throughput": f"{len(self.inputs) / took:,.0f} messages/s" if completed else "-",
            "kills (SIGKILL + restart)": str(self.worker.kills),
            "worker exits nobody asked for": str(len(self.worker.unplanned)),
            "worker starts that failed": str(self.worker.failed_starts),
            "total time": f"{time.monotonic() - self.started:.1f}s",
        })
        return self.report()

    def restart_worker(self, action: Action) -> None:
        if action.kind == "restart":
            self.worker.worker.stop()
            log(f"stopped worker #{self.worker.worker.starts} (SIGTERM)")
        else:
            self.worker.kill()
        if not action.outage:
            self.worker.start()
            return
        holder = hold_clickhouse(self.workdir / "data" / "clickhouse")
        held = time.monotonic()
        log(f"ClickHouse held by another process (pid {holder.pid}); the new worker gets "
            f"{self.args.outage_seconds:.0f}s without it")
        try:
            self.worker.start()
            began = time.monotonic()
            while time.monotonic() - began < self.args.outage_seconds:  # the outage, on purpose
                self.poll()
                if not self.blocked_seen and self.worker.running:
                    try:
                        self.blocked_seen = self.worker.worker.metric("shopstream_sink_blocked") == 1
                    except (urllib.error.URLError, OSError):
                        pass
                time.sleep(0.5)
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(30)
        blocked = "yes" if self.blocked_seen else "no"
        log(f"ClickHouse released after {time.monotonic() - held:.0f}s "
            f"(the sink reported itself blocked: {blocked})")
        self.figures["ClickHouse outage"] = (f"{time.monotonic() - held:.0f}s held, "
                                             f"{time.monotonic() - began:.0f}s of it with the "
                                             f"worker up; the sink said it was blocked: {blocked}")
        self.poll()
        self.await_resume("ClickHouse came back", dict(self.watch.sums))

    def settle(self, before: dict[str, float]) -> None:
        """Up to ``--settle`` seconds for every stage to have moved on since the previous
        disruption (or to be done), so that the next one meets each stage at work (a stage may
        wait out its consumer group's session timeout after a kill)."""
        if self.args.settle <= 0:
            return
        until = time.monotonic() + self.args.settle

        def moving() -> bool:
            shares = self.poll()
            return shares is not None and all(
                share >= 0.999 or share > before.get(stage, 0.0)
                for stage, share in shares.items()) or time.monotonic() > until

        self.wait("every stage to move on", moving)

    def stop_worker(self) -> None:
        """SIGTERM at the end, as an orchestrator would; how long it takes is a figure."""
        if not self.worker.running:
            return
        began = time.monotonic()
        try:
            code = self.worker.worker.stop(STOP_TIMEOUT_S)
            self.figures["graceful stop at the end (SIGTERM)"] = (
                f"{time.monotonic() - began:.1f}s, exit status {code}")
        except subprocess.TimeoutExpired:
            self.worker.worker.kill()
            self.figures["graceful stop at the end (SIGTERM)"] = (
                f"did not exit within {STOP_TIMEOUT_S:.0f}s: killed")
            log(f"!! the worker did not stop within {STOP_TIMEOUT_S:.0f}s of SIGTERM; its log ends:\n"
                f"{self.worker.worker.log_tail(15)}")

    def restart_broker(self) -> None:
        self.show(force=True, note="stopping the broker")
        self.poll()
        before = dict(self.watch.sums)
        down = self.broker.restart(self.args.broker_down_seconds)
        self.figures["broker restart"] = f"unreachable {down:.1f}s"
        # the worker's live clock may run ahead of its events while its fetches stall
        self.window_s = max(self.window_s, down + 30.0)
        self.await_resume("the broker restart", before)

    def await_resume(self, after: str, before: dict[str, int]) -> None:
        """The same worker must carry on by itself: every stage commits something more (or
        has all of its input) within ``--stall-seconds``; else that is a stall (recorded,
        stacks shown) and the worker is killed and started again."""
        began = time.monotonic()
        waiting: list[str] = []

        def resumed() -> bool:
            shares = self.poll() or {}
            sums = self.watch.sums
            waiting[:] = [stage for stage in sorted(set(before) | set(shares))
                          if shares.get(stage, 0.0) < 0.999
                          and sums.get(stage, 0) <= before.get(stage, 0)]
            return not waiting or time.monotonic() - began > self.args.stall_seconds

        if not self.wait(f"every stage to carry on after {after}", resumed) or not waiting:
            return
        self.stalls.append(f"after {after}, {', '.join(waiting)} committed nothing for "
                           f"{time.monotonic() - began:.0f}s")
        self.show(force=True, note=f"STALLED: {self.stalls[-1]}")
        self.dump_stacks()
        self.worker.worker.kill()
        log(f"killed the stuck worker #{self.worker.worker.starts}; starting it again")
        self.worker.start()

    def catch_up(self, produced: Produced) -> tuple[bool, list[Record]]:
        """Wait until every stage committed all of its input. The validation stage first (its
        committed offsets on the raw topic reach the ends); then shop.events is complete and
        read once; then every group reading it has committed past its last record."""
        raw_ends = produced.ends()
        log(f"waiting for every stage to catch up (deadline in "
            f"{self.deadline - time.monotonic():.0f}s)")

        def raw_done() -> bool:
            self.poll()
            try:
                committed = self.watch.committed()
            except Exception:  # noqa: BLE001 - broker busy: try again
                return False
            readers = [t[self.topics.raw] for t in committed.values() if self.topics.raw in t]
            return bool(readers) and all(
                r.get(p, 0) >= end for r in readers for p, end in raw_ends.items())

        if not self.wait("the validation stage to commit the whole raw topic", raw_done):
            return False, []
        events = read_topic(self.broker.bootstrap, self.topics.events, timeout=600)
        last: dict[int, int] = {}
        for record in events:
            last[record.partition] = max(last.get(record.partition, -1), record.offset)
        log(f"validation done: {len(events):,} canonical events on {self.topics.events}; "
            "waiting for the live stage and the sink")

        def events_done() -> bool:
            self.poll()
            try:
                committed = self.watch.committed()
            except Exception:  # noqa: BLE001
                return False
            readers = {g: t[self.topics.events] for g, t in committed.items()
                       if self.topics.events in t}
            return len(readers) >= 2 and all(
                r.get(p, 0) > end for r in readers.values() for p, end in last.items())

        done = self.wait("the live stage and the sink to commit all of shop.events", events_done)
        self.show(force=True, note="caught up" if done else "not caught up")
        return done, events

    def verify(self, events: list[Record], produced: Produced) -> None:
        bootstrap = self.broker.bootstrap
        expected = self.inputs.expected_ids
        self.checks.append(check_canonical(events, expected))
        try:
            if not self.worker.running:
                self.worker.start()
            self.checks.extend(check_clickhouse(self.worker.worker, expected))
        except Exception as exc:  # noqa: BLE001 - a failed check, with the reason
            self.checks.append(Check("ClickHouse events", len(expected), "unreadable", False,
                                     repr(exc)))
        dlq = read_topic(bootstrap, self.topics.dlq, timeout=600)
        self.checks.extend(check_dead_letters(dlq, self.inputs, produced, self.topics.raw))
        triggers: list[Record] = []
        for topic in self.topics.triggers.values():
            triggers.extend(read_topic(bootstrap, topic, timeout=600))
        checks, notes = check_triggers(triggers, events, self.window_s)
        self.checks.extend(checks)
        self.notes.extend(notes)

    def report(self) -> int:
        width = max(len(c.name) for c in self.checks)
        log("")
        if not self.checks[0].ok:
            log("NOT CAUGHT UP: the checks below compare what the stages got through with the "
                "whole input, so they fail too; the cause is above (stacks, worker exits)")
        log(f"{'check':<{width}}  {'expected':>10}  {'actual':>10}  result")
        log(f"{'-' * width}  {'-' * 10}  {'-' * 10}  ------")
        for c in self.checks:
            exp = fmt(c.expected) if isinstance(c.expected, int) else str(c.expected)
            act = fmt(c.actual) if isinstance(c.actual, int) else str(c.actual)
            log(f"{c.name:<{width}}  {exp:>10}  {act:>10}  {'ok' if c.ok else 'FAILED'}")
            if c.detail and not c.ok:
                log(f"    {c.detail}")
        log("")
        for note in self.notes:
            log(note)
        log("")
        for name, value in self.figures.items():
            log(f"{name + ':':<40} {value}")
        for note in self.worker.unplanned:
            log(f"  {note}")
        failed = [c.name for c in self.checks if not c.ok]
        log("")
        if failed:
            log(f"SOAK FAILED: {len(failed)} check(s) failed: {'; '.join(failed)}")
            log(f"kept for a look: {self.workdir} (worker logs: data/worker-N.log; broker: kafka/logs)")
        else:
            log("SOAK PASSED: every check held")
        return 1 if failed else 0

    def cleanup(self, failed: bool) -> None:
        try:
            if getattr(self, "worker", None) is not None and self.worker.running:
                try:
                    self.worker.worker.stop(60)
                except Exception:  # noqa: BLE001
                    self.worker.worker.kill()
        finally:
            if not (self.args.keep or failed):
                shutil.rmtree(self.workdir, ignore_errors=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.soak.run", description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=1_000_000, help="simulated events (default 1M)")
    p.add_argument("--kills", type=int, default=10, help="SIGKILLs of the worker (default 10)")
    p.add_argument("--seed", type=int, default=1, help="input and the moments of disruption")
    p.add_argument("--no-broker-restart", dest="broker_restart", action="store_false")
    p.add_argument("--no-clickhouse-outage", dest="clickhouse_outage", action="store_false")
    p.add_argument("--outage-seconds", type=float, default=60.0,
                   help="how long ClickHouse is unavailable (default 60)")
    p.add_argument("--broker-down-seconds", type=float, default=5.0,
                   help="how long the broker stays stopped (default 5)")
    p.add_argument("--rate", type=float, default=10.0,
                   help="simulated events per second of event time (default 10)")
    p.add_argument("--settle", type=float, default=60.0,
                   help="before each disruption, wait up to this long for every stage to have "
                        "moved on since the previous one (default 60; 0: do not wait)")
    p.add_argument("--points-on", choices=("slowest", "furthest"), default="slowest",
                   help="disruption points are shares of its input the slowest stage has "
                        "committed (default: every disruption meets each stage with work "
                        "left), or the furthest (sooner; with --produce-rate, mid-stream)")
    p.add_argument("--produce-rate", type=float, default=0.0,
                   help="messages a second to produce at (default: as fast as it goes)")
    p.add_argument("--malformed", type=float, default=0.02)
    p.add_argument("--duplicates", type=float, default=0.01)
    p.add_argument("--late", type=float, default=0.01, help="share of events sent late")
    p.add_argument("--timeout", type=float, default=None,
                   help="give up waiting after this many seconds (default: 600 + events/200)")
    p.add_argument("--stall-seconds", type=float, default=150.0,
                   help="a stage that commits nothing for this long while the worker runs is "
                        "stuck: record it, show the stacks, restart the worker (default 150)")
    p.add_argument("--workdir", help="work directory (default: a new temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (data, logs)")
    args = p.parse_args(argv)
    if args.timeout is None:
        args.timeout = 600 + args.events / 200
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    soak = Soak(args)
    code = 2
    try:
        code = soak.run()
    except BaseException:
        traceback.print_exc()
        log(f"SOAK FAILED: the harness stopped with an error; kept: {soak.workdir}")
        raise
    finally:
        soak.cleanup(failed=code != 0)
    return code


if __name__ == "__main__":
    sys.exit(main())
