"""The live-state agent: ``shop.events`` -> carts, trending, funnel, customers, live
figures -> ``shop.triggers.*``, ``shop.trending``, ``/funnel``, ``/trending``, ``/live``.

Exactly once, across restarts and rebalances. Each partition of ``shop.events``
has its own :class:`~streams.live.state.PartitionState`. Everything an event
changes (state entries in the ``live-state`` table's changelog, and the triggers
it fires) is written in that partition's Kafka transaction, together with its
offset (:class:`streams.kafka.transactions.EffectWriter`). On taking over a partition
the state is rebuilt from the changelog as committed (``read_committed``).

The state also records the offset of the last event it applied, in the same
transaction. Should an event's effects ever be committed without its offset (Faust
acknowledges an event only when the agent asks for the next one), the event comes
back after a restart and is recognised and skipped, not applied twice.

Deadlines need time to pass even when no events come. The worker sends a tick
every second to each partition it owns of ``shop.live.ticks``, an internal topic
co-partitioned with ``shop.events``. The agent consumes both, so a tick is
processed like an event: the deadlines it fires go out in the transaction that
commits the tick's offset. A crash before that commit aborts the triggers and
the state change together, and the restarted worker fires them again, once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import faust
import orjson

from models.deadletters import dead_letter, dead_letter_key
from models.errors import Code, Issue
from models.serde import dumps
from models.settings import Settings, Topics
from models.times import format_ms, ms_to_datetime, parse_iso_ms
from models.triggers import Trigger
from streams.kafka.records import Consumed, Record, consumed_from
from streams.kafka.topic_reader import read_partition
from streams.kafka.transactions import EffectWriter
from streams.live.events import Effects, live_event
from streams.live.funnel import funnel_view
from streams.live.pulse import live_figures
from streams.live.state import OFFSET_KEY, LiveConfig, PartitionState
from streams.live.trending import top
from streams.monitoring import metrics
from streams.monitoring.health import StageHealth

log = logging.getLogger(__name__)
HOUSEKEEPING_EVERY_MS = 30_000
RECENT_TRIGGERS = 50


def wall_ms() -> int:
    return int(time.time() * 1000)


class LiveStage:
    """The worker's live state, for the web views, the dashboard and the snapshots."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = LiveConfig.from_settings(settings)
        self.states: dict[int, PartitionState] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_TRIGGERS)
        self.trigger_counts: dict[str, int] = {}

    def emitted(self, triggers: list[tuple[Trigger, bytes]]) -> None:
        """Count what was sent and keep the latest for the dashboard (``(trigger, JSON)``)."""
        for trigger, encoded in triggers:
            self.recent.appendleft(orjson.loads(encoded))
            self.trigger_counts[trigger.type] = self.trigger_counts.get(trigger.type, 0) + 1
            metrics.TRIGGERS.labels(trigger.type).inc()

    def now(self) -> int:
        """Event time: the furthest any owned partition has got."""
        wall = wall_ms()
        return max((s.now(wall) for s in self.states.values()), default=0)

    def tenants(self) -> set[str]:
        out = {self.settings.default_tenant}
        for state in self.states.values():
            out.update(t for t, _ in state.trending.scores)
            out.update(t for t, _, _ in state.funnel.windows)
        return out

    def funnel(self, tenant: str, window_ms: int) -> dict[str, Any]:
        now = self.now()
        view = funnel_view([s.funnel for s in self.states.values()], tenant, now - window_ms,
                           now + 1)
        return {"tenant": tenant, "window_s": window_ms / 1000, "as_of": format_ms(now), **view}

    def trending(self, tenant: str, n: int, category: str | None) -> dict[str, Any]:
        now = self.now()
        items = top([s.trending for s in self.states.values()], tenant, now, n, category)
        return {"tenant": tenant, "category": category, "as_of": format_ms(now),
                "half_life_hours": self.settings.trending_half_life_h, "items": items}

    def live(self, tenant: str) -> dict[str, Any]:
        now = self.now()
        figures = live_figures([s.pulse for s in self.states.values()], tenant, now)
        open_carts = sum(1 for s in self.states.values() for c in s.carts.carts.values()
                         if c.tenant == tenant)
        return {"tenant": tenant, "as_of": format_ms(now), **figures, "open_carts": open_carts,
                "triggers": dict(self.trigger_counts),
                "late_events": sum(s.carts.late_events for s in self.states.values())}



def trigger_bytes(trigger: Trigger) -> bytes:
    return dumps(trigger.model_dump())


def trigger_key(trigger: Trigger) -> bytes:
    return str(trigger.user_id or trigger.anonymous_id or trigger.tenant).encode()


@dataclass
class Step:
    """What one record on ``shop.events`` or the ticks topic comes to: what kind of step it
    was, the records to write in its transaction and the triggers among them."""

    kind: Literal["tick", "event", "replayed", "dead_letter"]
    records: list[Record] = field(default_factory=list)
    triggers: list[tuple[Trigger, bytes]] = field(default_factory=list)
    late: bool = False
    lag_s: float | None = None  # event's receivedAt -> now, for a live event


class LiveDecisions:
    """The live stage's per-record decisions (pure apart from the partition state it is
    given): a tick fires due deadlines (and, when asked, housekeeping); an event is applied
    once (a redelivered offset is skipped); anything that is not a canonical event becomes
    a dead letter, once. ``now_ms`` is the wall clock that advances idle event time."""

    def __init__(self, topics: Topics, changelog: str) -> None:
        self.topics, self.changelog = topics, changelog

    def handle(self, state: PartitionState, record: Consumed, now_ms: int,
               housekeeping: bool = False) -> Step:
        if record.topic == self.topics.ticks:
            effects = state.due(now_ms)
            if housekeeping:
                effects.merge(state.housekeeping(now_ms))
            return self._step("tick", record.partition, effects)
        raw = record.value or b""
        try:
            obj = orjson.loads(raw)
            parsed = live_event(obj)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            if record.offset <= state.applied_offset:  # dead-lettered before a replay
                return Step("replayed")
            return self._refuse(state, record, raw, exc, now_ms)
        late_before = state.carts.late_events
        applied = state.apply_at(record.offset, parsed, now_ms)
        if applied is None:
            return Step("replayed")
        step = self._step("event", record.partition, applied)
        step.late = state.carts.late_events > late_before
        received = obj.get("receivedAt")
        if received:
            step.lag_s = max(0.0, (now_ms - parse_iso_ms(received)) / 1000)
        return step

    def _step(self, kind: Literal["tick", "event"], partition: int, effects: Effects) -> Step:
        triggers = [(t, trigger_bytes(t)) for t in effects.triggers]
        records = [Record(self.topics.triggers[t.type], trigger_key(t), encoded)
                   for t, encoded in triggers]
        records.extend(Record(self.changelog, orjson.dumps(key),
                              None if value is None else dumps(value), partition)
                       for key, value in effects.writes.items())
        return Step(kind, records, triggers)

    def _refuse(self, state: PartitionState, record: Consumed, raw: bytes, exc: Exception,
                now_ms: int) -> Step:
        """Something on shop.events that is not a canonical event: a dead letter (with the
        offset it was applied at, so a replay does not send it twice), not a crash."""
        letter = dead_letter(raw, [Issue(Code.VALUE_INVALID, "", f"not a canonical event: {exc}")],
                             topic=record.topic, partition=record.partition,
                             offset=record.offset, key=record.key,
                             failed_at=ms_to_datetime(now_ms), stage="live")
        state.applied_offset = record.offset
        log.warning("%s[%d]@%d is not a canonical event (%s): dead-lettered", record.topic,
                    record.partition, record.offset, exc)
        return Step("dead_letter", [
            Record(self.topics.dlq, dead_letter_key(record.key), letter),
            Record(self.changelog, orjson.dumps(OFFSET_KEY), orjson.dumps(record.offset),
                   record.partition)])


def count_step(step: Step, dlq_topic: str) -> None:
    """The live stage's metrics for one step."""
    if step.kind == "tick":
        metrics.LIVE_TICKS.inc()
    elif step.kind == "replayed":
        metrics.LIVE_REPLAYED.inc()
    elif step.kind == "dead_letter":
        metrics.EVENTS_OUT.labels(dlq_topic).inc()
    else:
        metrics.LIVE_EVENTS.inc()
        if step.late:
            metrics.LATE_EVENTS.inc()
        if step.lag_s is not None:
            metrics.LIVE_EVENT_LAG.set(step.lag_s)


def register_live(app: faust.App, settings: Settings, bootstrap: str,
                  health: StageHealth | None = None,
                  clock: Callable[[], int] = wall_ms) -> LiveStage:
    topics = settings.topics
    source = app.topic(topics.events, topics.ticks, key_serializer="raw", value_serializer="raw")
    table = app.Table("live-state", key_type=str, partitions=settings.topic_partitions,
                      help="carts, deadlines, scores, sessions, customers (written by the agent)")
    changelog = table.changelog_topic.get_topic_name()
    live = LiveStage(settings)
    locks: dict[int, asyncio.Lock] = {}
    effects_writer = EffectWriter(app)
    decisions = LiveDecisions(topics, changelog)
    last_housekeeping: dict[int, int] = {}
    health = health or StageHealth("live", topics.events)

    async def adopt(partition: int) -> PartitionState:
        committed = await asyncio.to_thread(read_partition, bootstrap, changelog, partition)
        state = PartitionState(live.config)
        for key, value in committed.items():
            if value is not None:
                state.restore(orjson.loads(key), orjson.loads(value))
        state.restored(clock())
        live.states[partition] = state
        log.info("partition %d: live state restored (%d carts, %d abandonments, %d customers, "
                 "%d products)", partition, len(state.carts.carts), len(state.carts.abandoned),
                 len(state.customers.customers), len(state.trending.scores))
        return state

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust types receivers as (sender, *args, signal=, **kwargs)
    async def forget_revoked(sender: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        for tp in revoked:
            if tp.topic == topics.events:
                live.states.pop(tp.partition, None)
        health.assigned(sorted(live.states))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # as above
    async def note_assigned(sender: faust.App, assigned: set[Any], **kwargs: Any) -> None:
        health.assigned(sorted(tp.partition for tp in assigned if tp.topic == topics.events))

    @app.agent(source, name="live")
    async def live_agent(stream: faust.StreamT) -> None:
        health.running()
        async for event in stream.events():
            record = consumed_from(event)
            if record.topic == topics.ticks and app.should_stop:
                continue  # shutting down: the final commit may be done already
            lock = locks.setdefault(record.partition, asyncio.Lock())
            async with lock:
                state = live.states.get(record.partition) or await adopt(record.partition)
                now = clock()
                housekeeping = now - last_housekeeping.get(record.partition, 0) >= HOUSEKEEPING_EVERY_MS
                if record.topic == topics.ticks and housekeeping:
                    last_housekeeping[record.partition] = now
                step = decisions.handle(state, record, now, housekeeping)
                if step.records:
                    await effects_writer.write(event, step.records)
                count_step(step, topics.dlq)
                health.progressed(1)
                live.emitted(step.triggers)

    @app.timer(settings.live_tick_s)
    async def send_ticks() -> None:
        """One tick per owned partition of the ticks topic: time passes in idle partitions."""
        if app.should_stop:
            return
        for tp in app.consumer.assignment():
            if tp.topic == topics.ticks:
                await app.producer.send(topics.ticks, None, b"", tp.partition, None, None)

    @app.timer(5.0)
    async def export_gauges() -> None:
        for tenant in live.tenants():
            figures = live.live(tenant)
            metrics.LIVE_REVENUE.labels(tenant, "1m").set(float(figures["revenue_last_minute"]))
            metrics.LIVE_REVENUE.labels(tenant, "1h").set(float(figures["revenue_last_hour"]))
            metrics.LIVE_ORDERS.labels(tenant, "1m").set(figures["orders_last_minute"])
            metrics.LIVE_ORDERS.labels(tenant, "1h").set(figures["orders_last_hour"])
            metrics.LIVE_ACTIVE_USERS.labels(tenant).set(figures["active_users_5m"])
            metrics.LIVE_OPEN_CARTS.labels(tenant).set(figures["open_carts"])

    @app.timer(settings.trending_publish_s)
    async def publish_trending() -> None:
        """Top-N overall and per category to the compacted ``shop.trending``, keyed by scope."""
        n = settings.trending_top_n
        for tenant in live.tenants():
            categories = {s.category.split(".")[0] for state in live.states.values()
                          for (t, _), s in state.trending.scores.items() if t == tenant and s.category}
            for category in [None, *sorted(categories)]:
                snapshot = live.trending(tenant, n, category)
                scope = f"category:{category}" if category else "all"
                value = dumps({"type": "trending", "scope": scope, **snapshot})
                await app.producer.send(topics.trending, f"{tenant}|{scope}".encode(), value,
                                        None, None, None)

    return live
