"""The live stage: ``shop.events`` -> carts, trending, funnel, customers, live figures ->
``shop.triggers.*``, ``shop.trending``, ``/funnel``, ``/trending``, ``/live``.

:class:`LiveDecisions` decides per record and per tick with the pure state machines of
:mod:`streams.live`; a :class:`~streams.kafka.transactional.TransactionalLoop` runs it: triggers,
dead letters, state changes and consumed offsets in one transaction per commit interval.

State writes are coalesced per key between commits (a write-back cache, as Kafka Streams'
record cache): a cart changed a hundred times in an interval writes one changelog record at
the commit. The state records the offset of the last event it applied, so an event whose
effects are in the committed state is never applied twice.

Deadlines pass even when no events come: every ``live_tick_s`` the loop fires each owned
partition's due deadlines in the current transaction. A crash before the commit aborts
triggers and state change together; the restarted worker fires them again, once.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from models.deadletters import dead_letter, dead_letter_key
from models.errors import Code, Issue
from models.serde import dumps
from models.settings import Settings, Topics
from models.times import format_ms, ms_to_datetime
from models.triggers import Trigger
from streams.app import faust_app_id
from streams.kafka.records import Consumed, Record
from streams.kafka.topic_reader import read_partition
from streams.kafka.transactional import TransactionalLoop
from streams.kafka.upstream import UpstreamProgress
from streams.kafka.write_back import WriteBackCache
from streams.live.clock import wall_ms
from streams.live.events import Effects, TrendUpdate, live_event
from streams.live.funnel import funnel_view
from streams.live.pulse import live_figures
from streams.live.state import OFFSET_KEY, ApplyFailed, LiveConfig, PartitionState
from streams.live.trending import TrendBuffer
from streams.monitoring import metrics
from streams.monitoring.health import StageHealth
from streams.privacy.forgetting import forgetting
from streams.stages.fx_rates import LiveRates
from streams.stages.loop_config import stage_loop
from streams.stages.trending import TrendingBoard

log = logging.getLogger(__name__)
HOUSEKEEPING_EVERY_MS = 30_000
RECENT_TRIGGERS = 50


class LiveStage:
    """The worker's live state, for the web views, the dashboard and the snapshots. Readers
    hold :attr:`lock` (the views below do)."""

    def __init__(self, settings: Settings, board: TrendingBoard | None = None) -> None:
        self.settings = settings
        self.board = board
        self.rates = LiveRates(settings)  # followed by live_loop (streams/stages/fx_rates.py)
        self.config = LiveConfig.from_settings(settings)
        self.states: dict[int, PartitionState] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_TRIGGERS)
        self.trigger_counts: dict[tuple[str, str], int] = {}  # (tenant, type): since started
        # the loop thread changes the states; the web views and timers read them
        self.lock = threading.RLock()

    def emitted(self, triggers: list[tuple[Trigger, bytes]]) -> None:
        """Count what was sent and keep the latest for the dashboard (``(trigger, JSON)``)."""
        for trigger, encoded in triggers:
            self.recent.appendleft(orjson.loads(encoded))
            counted = (trigger.tenant, trigger.type)
            self.trigger_counts[counted] = self.trigger_counts.get(counted, 0) + 1
            metrics.TRIGGERS.labels(trigger.type).inc()

    def now(self) -> int:
        """Event time: the furthest any owned partition has got."""
        wall = wall_ms()
        with self.lock:
            return max((s.now(wall) for s in self.states.values()), default=0)

    def tenants(self) -> set[str]:
        out = {self.settings.default_tenant}
        with self.lock:
            for state in self.states.values():
                out.update(t for t, _, _ in state.funnel.windows)
        if self.board is not None:
            out.update(self.board.tenants())
        return out

    def categories(self, tenant: str) -> set[str]:
        return self.board.categories(tenant) if self.board is not None else set()

    def funnel(self, tenant: str, window_ms: int) -> dict[str, Any]:
        with self.lock:
            now = self.now()
            view = funnel_view([s.funnel for s in self.states.values()], tenant, now - window_ms,
                               now + 1)
        return {"tenant": tenant, "window_s": window_ms / 1000, "as_of": format_ms(now), **view}

    def trending(self, tenant: str, n: int, category: str | None) -> dict[str, Any]:
        """Complete with any number of workers: merged from every trending partition's top
        lists (at most ``SHOPSTREAM_TRENDING_TOP_N`` products per scope)."""
        now = self.now()
        items: list[dict[str, Any]] = []
        if self.board is not None:
            now = now or self.board.latest()
            items = self.board.top(tenant, min(n, self.settings.trending_top_n), category, now)
        return {"tenant": tenant, "category": category, "as_of": format_ms(now),
                "half_life_hours": self.settings.trending_half_life_h, "items": items}

    def live(self, tenant: str) -> dict[str, Any]:
        with self.lock:
            now = self.now()
            figures = live_figures([s.pulse for s in self.states.values()], tenant, now,
                                   self.rates.converter(tenant))
            open_carts = sum(1 for s in self.states.values() for c in s.carts.carts.values()
                             if c.tenant == tenant)
            late = sum(s.carts.late_by_tenant.get(tenant, 0) for s in self.states.values())
            counts = {kind: n for (of, kind), n in self.trigger_counts.items() if of == tenant}
        return {"tenant": tenant, "as_of": format_ms(now), "currency": self.rates.reporting(tenant),
                **figures, "open_carts": open_carts, "triggers": counts, "late_events": late}

    def take_dirty_funnels(self) -> list[tuple[int, str, str, int, list[int]]]:
        """The funnel windows changed since the last call (for the ClickHouse snapshot)."""
        with self.lock:
            return [(partition, *key, counts) for partition, state in self.states.items()
                    for key, counts in state.funnel.take_dirty()]

    def mark_dirty(self, windows: list[tuple[int, str, str, int, list[int]]]) -> None:
        """Windows whose snapshot was not written: try them again next time."""
        with self.lock:
            for partition, tenant, source, window, _counts in windows:
                if partition in self.states:
                    self.states[partition].funnel.dirty.add((tenant, source, window))



def trigger_bytes(trigger: Trigger) -> bytes:
    return dumps(trigger.model_dump())


def trigger_key(trigger: Trigger) -> bytes:
    return str(trigger.user_id or trigger.anonymous_id or trigger.tenant).encode()


@dataclass
class Step:
    """What one record on ``shop.events``, or one tick of a partition, comes to: the records
    to produce now (triggers, dead letters), the state changes to persist (key -> JSON
    value, None deletes; coalesced per key until the commit) and the triggers fired."""

    kind: Literal["tick", "event", "replayed", "dead_letter"]
    records: list[Record] = field(default_factory=list)
    writes: dict[str, Any] = field(default_factory=dict)
    triggers: list[tuple[Trigger, bytes]] = field(default_factory=list)
    late: bool = False
    lag_s: float | None = None  # event's receivedAt -> now, for a live event
    # trending weights for the products' owners (repartitioned by product), coalesced per
    # product until the commit
    trend: list[TrendUpdate] = field(default_factory=list)


class LiveDecisions:
    """The live stage's decisions (pure apart from the partition state they are given): an
    event is applied once (a redelivered offset is skipped); anything that is not a
    canonical event becomes a dead letter, once; a tick fires due deadlines (and, when
    asked, housekeeping). ``now_ms`` is the wall clock that advances idle event time."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics

    def handle(self, state: PartitionState, record: Consumed, now_ms: int) -> Step:
        raw = record.value or b""
        try:
            obj = orjson.loads(raw)
            parsed = live_event(obj)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError,
                OverflowError) as exc:
            if record.offset <= state.applied_offset:  # dead-lettered before a replay
                return Step("replayed")
            return self._refuse(state, record, raw, exc, now_ms)
        late_before = state.carts.late_events
        try:
            applied = state.apply_at(record.offset, parsed, now_ms)
        except ApplyFailed as failed:  # a bug, or a record no validation stage wrote
            # a dead letter and the error in the log; what fell due before it still fires
            log.error("%s[%d]@%d failed in the live state", record.topic, record.partition,
                      record.offset, exc_info=failed.error)
            return self._refuse(state, record, raw, failed.error, now_ms, failed.effects)
        if applied is None:
            return Step("replayed")
        step = self._step("event", applied)
        step.late = state.carts.late_events > late_before
        if parsed.received_ms is not None:
            step.lag_s = max(0.0, (now_ms - parsed.received_ms) / 1000)
        return step

    def tick(self, state: PartitionState, now_ms: int, housekeeping: bool = False,
             idle: bool = True) -> Step:
        """Time passes: ``idle`` says the partition has nothing more to read (then the wall
        clock moves its event time on), else only event time counts."""
        if idle:
            state.idle(now_ms)
        else:
            state.busy()
        effects = state.due(now_ms)
        if housekeeping:
            effects.merge(state.housekeeping(now_ms))
        return self._step("tick", effects)

    def _step(self, kind: Literal["tick", "event", "dead_letter"], effects: Effects) -> Step:
        triggers = [(t, trigger_bytes(t)) for t in effects.triggers]
        records = [Record(self.topics.triggers[t.type], trigger_key(t), encoded)
                   for t, encoded in triggers]
        return Step(kind, records, effects.writes, triggers, trend=effects.trend)

    def _refuse(self, state: PartitionState, record: Consumed, raw: bytes, exc: Exception,
                now_ms: int, fired: Effects | None = None) -> Step:
        """Something on shop.events that is not a canonical event: a dead letter (with the
        offset it was applied at, so a replay does not send it twice), not a crash; with
        what had ``fired`` before it failed."""
        letter = dead_letter(raw, [Issue(Code.VALUE_INVALID, "", "not a canonical event: "
                                         f"{type(exc).__name__}: {str(exc)[:300]}")],
                             topic=record.topic, partition=record.partition,
                             offset=record.offset, key=record.key,
                             failed_at=ms_to_datetime(now_ms), stage="live")
        state.applied_offset = record.offset
        log.warning("%s[%d]@%d is not a canonical event (%s): dead-lettered", record.topic,
                    record.partition, record.offset, exc)
        step = self._step("dead_letter", fired or Effects())
        step.records.append(Record(self.topics.dlq, dead_letter_key(record.key), letter))
        step.writes[OFFSET_KEY] = record.offset
        return step


def count_step(step: Step, counts: metrics.BatchedCounts) -> None:
    """The live stage's metrics for one step (added to the metrics at the commit)."""
    if step.kind == "tick":
        counts.add(metrics.LIVE_TICKS)
    elif step.kind == "replayed":
        counts.add(metrics.LIVE_REPLAYED)
    elif step.kind == "dead_letter":
        counts.add(metrics.LIVE_DEAD_LETTERS)
    else:
        counts.add(metrics.LIVE_EVENTS)
        if step.late:
            counts.add(metrics.LATE_EVENTS)


def live_changelog(settings: Settings) -> str:
    """The compacted changelog of the live state (key -> JSON value, per partition)."""
    return f"{faust_app_id(settings)}-live-state-changelog"


class LiveProcessor:
    """The live stage inside :class:`~streams.kafka.transactional.TransactionalLoop`: loads a
    partition's state from the committed changelog on assignment, decides per record and
    per tick with :class:`LiveDecisions`, and keeps state writes in a write-back cache that
    is flushed, one record per changed key, into the transaction just before it commits."""

    def __init__(self, live: LiveStage, settings: Settings,
                 read_committed: Callable[[int], dict[bytes, bytes | None]],
                 clock: Callable[[], int] = wall_ms,
                 upstream_idle: Callable[[], bool] = lambda: True) -> None:
        self.live, self.topics, self.clock = live, settings.topics, clock
        self.upstream_idle = upstream_idle
        self.read_committed = read_committed
        self.changelog = live_changelog(settings)
        self.decisions = LiveDecisions(settings.topics)
        self.tick_ms = int(settings.live_tick_s * 1000)
        self.cache = WriteBackCache(self.changelog)
        self.trend = TrendBuffer(settings.trending_half_life_h * 3_600_000)
        self.last_tick = 0
        self.last_housekeeping: dict[int, int] = {}
        self.counts = metrics.BatchedCounts()
        self.lag_s: float | None = None

    def assigned(self, partitions: list[int]) -> None:
        for partition in partitions:
            state = PartitionState(self.live.config)
            for key, value in self.read_committed(partition).items():
                if value is not None:
                    state.restore(orjson.loads(key), orjson.loads(value))
            state.restored(self.clock())
            with self.live.lock:
                self.live.states[partition] = state
            log.info("partition %d: live state restored (%d carts, %d abandonments, "
                     "%d customers)", partition, len(state.carts.carts),
                     len(state.carts.abandoned), len(state.customers.customers))

    def revoked(self, partitions: list[int]) -> None:
        with self.live.lock:
            for partition in partitions:
                self.live.states.pop(partition, None)
                self.cache.drop(partition)
                self.trend.drop(partition)

    def handle(self, record: Consumed) -> list[Record]:
        state = self.live.states.get(record.partition)
        if state is None:
            return []
        with self.live.lock:
            step = self.decisions.handle(state, record, self.clock())
        return self._taken(record.partition, step)

    def tick(self, caught_up: set[int]) -> list[Record]:
        """Every ``live_tick_s``: due deadlines of every owned partition, housekeeping of one at
        most; the wall clock moves only ``caught_up`` partitions, and only if upstream is idle."""
        now = self.clock()
        if now - self.last_tick < self.tick_ms:
            return []
        self.last_tick = now
        if caught_up and not self.upstream_idle():
            caught_up = set()
        out: list[Record] = []
        swept = next((p for p in self.live.states
                      if now - self.last_housekeeping.get(p, 0) >= HOUSEKEEPING_EVERY_MS), None)
        self.last_housekeeping[swept if swept is not None else -1] = now
        for partition, state in list(self.live.states.items()):
            with self.live.lock:
                step = self.decisions.tick(state, now, partition == swept,
                                           idle=partition in caught_up)
            out.extend(self._taken(partition, step))
        self.counts.flush()  # a tick with nothing to commit is counted too
        return out

    def _taken(self, partition: int, step: Step) -> list[Record]:
        if step.writes:
            self.cache.update(partition, step.writes)
        self.trend.add(partition, step.trend)
        count_step(step, self.counts)
        if step.lag_s is not None:
            self.lag_s = step.lag_s
        if step.triggers:
            self.live.emitted(step.triggers)
        return step.records

    def pending(self) -> bool:
        return self.cache.pending() or self.trend.pending()

    def flush(self) -> list[Record]:
        """For the commit: the write-back cache as changelog records (one per changed key)
        and the trending updates, one per product changed."""
        return [*self.cache.flush(),
                *(Record(self.topics.trending_updates, f"{u.tenant}|{u.product}".encode(),
                         orjson.dumps(u.to_json())) for u in self.trend.drain())]

    def committed(self) -> None:
        self.counts.flush()
        if self.lag_s is not None:
            metrics.LIVE_EVENT_LAG.set(self.lag_s)


def live_loop(settings: Settings, bootstrap: str, live: LiveStage, health: StageHealth,
              clock: Callable[[], int] = wall_ms) -> TransactionalLoop:
    """The live stage, ready to :meth:`~TransactionalLoop.run` in a thread."""
    changelog = live_changelog(settings)
    live.rates.follow(bootstrap)
    upstream = UpstreamProgress(bootstrap, settings.topics.raw,
                                f"{faust_app_id(settings)}-validate")
    processor = LiveProcessor(live, settings,
                              lambda partition: read_partition(bootstrap, changelog, partition),
                              clock, upstream.caught_up)
    return TransactionalLoop(stage_loop(
        settings, bootstrap, settings.topics.events, "live",
        min_interval_s=settings.live_commit_min_interval_s,
        tick_interval_s=min(settings.live_tick_s, 0.25),
    ), forgetting(processor, settings, bootstrap), health)
