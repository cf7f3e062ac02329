"""The live stage's decisions, without a broker: ticks fire due deadlines, events write
their state and triggers, a redelivered offset is skipped, what is not a canonical event
becomes one dead letter; the processor coalesces state writes per key until the commit."""

from __future__ import annotations

import orjson
import pytest

from models.deadletters import original_payload
from models.settings import load_settings
from models.times import format_ms
from streams.kafka.records import Consumed
from streams.live.state import OFFSET_KEY, LiveConfig, PartitionState
from streams.live.trending import Trending
from streams.stages.live import LiveDecisions, LiveProcessor, LiveStage, live_changelog
from tests.unit.streams.live.test_state import MIN, T0, add

SETTINGS = load_settings()
TOPICS = SETTINGS.topics
WALL = T0  # the wall clock is pinned to the event time of the traffic


def decisions() -> LiveDecisions:
    return LiveDecisions(TOPICS)


def state() -> PartitionState:
    return PartitionState(LiveConfig.from_settings(SETTINGS))


def event(body: dict, offset: int) -> Consumed:
    return Consumed(TOPICS.events, 2, offset, b"alice", orjson.dumps(body))


def test_an_event_writes_its_state_and_offset() -> None:
    d, s = decisions(), state()
    step = d.handle(s, event(add(T0), 0), WALL)
    assert step.kind == "event" and step.triggers == []
    # the add's trending weight goes on to the product's owner (at the commit)
    assert step.records == []
    [update] = step.trend
    assert (update.tenant, update.product, update.weight, update.ts) == ("t1", "p1", 3.0, T0)
    assert step.writes[OFFSET_KEY] == 0
    assert any(key.startswith("c|") for key in step.writes)  # the cart


def test_a_redelivered_offset_is_skipped() -> None:
    d, s = decisions(), state()
    d.handle(s, event(add(T0), 5), WALL)
    again = d.handle(s, event(add(T0), 5), WALL)
    assert again.kind == "replayed" and again.records == [] and again.writes == {}


def test_a_tick_fires_a_due_deadline_as_a_trigger_record() -> None:
    d, s = decisions(), state()
    d.handle(s, event(add(T0), 0), WALL)
    assert d.tick(s, WALL).triggers == []  # caught up: idle from here on
    assert d.tick(s, WALL + 29 * MIN).triggers == []
    step = d.tick(s, WALL + 31 * MIN)  # the stream idles past the deadline
    assert step.kind == "tick"
    [(trigger, encoded)] = step.triggers
    assert trigger.type == "cart_abandoned"
    out = [r for r in step.records if r.topic == TOPICS.triggers["cart_abandoned"]]
    assert [(r.key, r.value) for r in out] == [(b"alice", encoded)]
    assert orjson.loads(encoded)["trigger_id"] == trigger.trigger_id
    assert d.tick(s, WALL + 60 * MIN).triggers == []  # once


def test_a_partition_with_input_waiting_is_not_moved_by_the_wall_clock() -> None:
    d, s = decisions(), state()
    d.handle(s, event(add(T0), 0), WALL)
    d.tick(s, WALL)
    assert d.tick(s, WALL + 31 * MIN, idle=False).triggers == []  # behind: event time only
    assert s.now(WALL + 31 * MIN) == T0


def test_what_is_not_a_canonical_event_becomes_one_dead_letter() -> None:
    d, s = decisions(), state()
    for offset, bad in enumerate([b"not json", b'{"foo": 1}']):
        step = d.handle(s, Consumed(TOPICS.events, 2, offset, b"k", bad), WALL)
        assert step.kind == "dead_letter"
        [letter] = step.records
        body = orjson.loads(letter.value)
        assert letter.topic == TOPICS.dlq and body["stage"] == "live"
        assert original_payload(body) == bad and body["source"]["offset"] == offset
        assert step.writes == {OFFSET_KEY: offset}
    # redelivered after a crash, before its offset committed: not sent twice
    assert d.handle(s, Consumed(TOPICS.events, 2, 1, b"k", b'{"foo": 1}'), WALL).kind == "replayed"


def canonical(**overrides) -> bytes:
    body = {"type": "track", "event": "Order Completed", "tenant": "t1", "messageId": "m",
            "userId": "alice", "timestamp": "2026-03-01T10:00:00.000Z",
            "properties": {"order_id": "o1", "total": 5, "products": [
                {"product_id": "p1", "price": 5, "quantity": 1}]}}
    body.update(overrides)
    return orjson.dumps(body)


@pytest.mark.parametrize("bad", [
    canonical(receivedAt=5), canonical(receivedAt="yesterday"),
    canonical(timestamp="9999-12-31T23:59:59-14:00"),  # overflows once in UTC
    canonical(properties={"order_id": "o1", "total": "abc"}),  # money that is not money
    canonical(userId=["alice"]), canonical(properties={"products": "abc"}),
])
def test_a_readable_record_that_no_validation_stage_wrote_is_a_dead_letter_too(bad) -> None:
    """Someone else wrote to shop.events: one dead letter, the partition goes on."""
    d, s = decisions(), state()
    step = d.handle(s, Consumed(TOPICS.events, 2, 0, b"k", bad), WALL)
    assert step.kind == "dead_letter", step
    [letter] = step.records
    assert original_payload(orjson.loads(letter.value)) == bad
    assert d.handle(s, Consumed(TOPICS.events, 2, 1, b"k", canonical()), WALL).kind == "event"


def test_what_fell_due_before_a_record_that_fails_still_fires() -> None:
    """The record moves event time past an open cart's deadline, then fails in the live
    logic: its dead letter, and the cart's trigger with its state writes, go out together."""
    d, s = decisions(), state()
    assert d.handle(s, event(add(T0), 0), WALL).kind == "event"  # alice's cart, due T0 + 30 min
    bad = canonical(event="Product Added", userId="bob", timestamp=format_ms(T0 + 60 * MIN),
                    properties={"product_id": {"a": 1}, "cart_id": "c2", "quantity": 1})
    step = d.handle(s, Consumed(TOPICS.events, 2, 1, b"k", bad), WALL)
    assert step.kind == "dead_letter"
    assert [t.type for t, _ in step.triggers] == ["cart_abandoned"]
    assert sorted(r.topic for r in step.records) == sorted(
        [TOPICS.dlq, TOPICS.triggers["cart_abandoned"]])
    assert any(key.startswith("c|") for key in step.writes) and step.writes[OFFSET_KEY] == 1


def test_a_page_call_that_says_it_is_an_order_is_a_page_view() -> None:
    d, s = decisions(), state()
    page = canonical(type="page", event="Order Completed", anonymousId="a1",
                     properties={"products": "abc", "total": "x"})
    step = d.handle(s, Consumed(TOPICS.events, 2, 0, b"k", page), WALL)
    assert step.kind == "event" and step.triggers == []
    assert not any(key.startswith("u|") for key in step.writes)  # no customer, no order


def test_housekeeping_runs_only_when_asked() -> None:
    def tombstones(housekeeping: bool) -> set[str]:
        d, s = decisions(), state()
        d.handle(s, event(add(T0), 0), WALL)
        d.tick(s, WALL)
        step = d.tick(s, WALL + 2 * 86_400_000, housekeeping=housekeeping)
        return {key[0] for key, value in step.writes.items() if value is None}

    assert "s" not in tombstones(False)  # (the abandoned cart itself goes at its deadline)
    assert tombstones(True) >= {"s", "f"}  # the quiet session and its day-old funnel window


def test_the_processor_writes_each_changed_key_once_per_commit() -> None:
    live = LiveStage(SETTINGS)
    clock = [WALL]
    processor = LiveProcessor(live, SETTINGS, lambda partition: {}, clock=lambda: clock[0])
    processor.assigned([2])
    for offset in range(10):  # ten adds to one cart between two commits
        processor.handle(event(add(T0 + offset * 1000, qty=1), offset))
    assert processor.pending()
    flushed = processor.flush()
    records = [r for r in flushed if r.topic == live_changelog(SETTINGS)]
    keys = [orjson.loads(r.key) for r in records]
    assert len(keys) == len(set(keys))  # one record per key
    assert all(r.partition == 2 for r in records)
    # and one trending update for the product, worth the ten adds decayed to the last
    [trend] = [r for r in flushed if r.topic == TOPICS.trending_updates]
    assert len(flushed) == len(records) + 1 and trend.key == b"t1|p1"
    book = Trending(SETTINGS.trending_half_life_h * 3_600_000)
    for offset in range(10):
        book.add("t1", "p1", "", 3.0, T0 + offset * 1000)
    update = orjson.loads(trend.value)
    assert update["ts"] == T0 + 9000 and update["w"] == pytest.approx(book.scores["t1", "p1"].score)
    offset = next(r for r in records if orjson.loads(r.key) == OFFSET_KEY)
    assert orjson.loads(offset.value) == 9
    assert not processor.pending() and processor.flush() == []
    # a revoked partition's uncommitted writes are thrown away with its state
    processor.handle(event(add(T0 + 20_000), 10))
    processor.revoked([2])
    assert processor.flush() == [] and 2 not in live.states


def test_no_wall_clock_advance_while_the_stage_upstream_has_input_left() -> None:
    live, clock, upstream = LiveStage(SETTINGS), [WALL], [False]
    processor = LiveProcessor(live, SETTINGS, lambda partition: {}, clock=lambda: clock[0],
                              upstream_idle=lambda: upstream[0])
    processor.assigned([2])
    processor.handle(event(add(T0), 0))
    for _ in range(3):  # caught up here, but validation has raw events left: no advance
        clock[0] += 31 * MIN
        assert processor.tick({2}) == []
    upstream[0] = True  # the whole pipeline is idle: wall time passes from here on
    clock[0] += 1_000  # (the next tick)
    processor.tick({2})
    clock[0] += 31 * MIN
    assert [r.topic for r in processor.tick({2})] == [TOPICS.triggers["cart_abandoned"]]


def test_ticks_and_events_reach_the_metrics_even_when_nothing_commits() -> None:
    from streams.monitoring import metrics

    live, clock = LiveStage(SETTINGS), [WALL]
    processor = LiveProcessor(live, SETTINGS, lambda partition: {}, clock=lambda: clock[0])
    processor.assigned([2])
    ticks, events = metrics.LIVE_TICKS._value.get(), metrics.LIVE_EVENTS._value.get()
    processor.handle(event(add(T0), 0))
    assert metrics.LIVE_EVENTS._value.get() == events  # events: counted at the commit
    processor.committed()
    assert metrics.LIVE_EVENTS._value.get() == events + 1
    clock[0] += 1_000
    assert processor.tick(set()) == []  # nothing due: no transaction, no commit
    assert metrics.LIVE_TICKS._value.get() == ticks + 1


def test_live_counts_triggers_and_late_events_of_its_tenant_only() -> None:
    """``/live`` of a tenant showed every tenant's trigger counts and late events."""
    live, clock = LiveStage(SETTINGS), [WALL]
    processor = LiveProcessor(live, SETTINGS, lambda partition: {}, clock=lambda: clock[0])
    processor.assigned([2])
    processor.handle(event(add(T0, cart="c1"), 0))
    processor.handle(event({**add(T0, cart="c2", user="bob"), "tenant": "t2"}, 1))
    processor.handle(event({**add(T0 + 10 * MIN, cart="c3", user="cy"), "tenant": "t2"}, 2))
    processor.handle(event({**add(T0 - 10 * MIN, cart="c3", user="cy"), "tenant": "t2"}, 3))
    processor.tick({2})  # caught up: idle from here on
    clock[0] = WALL + 45 * MIN
    processor.tick({2})
    t1, t2 = live.live("t1"), live.live("t2")
    assert (t1["triggers"], t1["late_events"]) == ({"cart_abandoned": 1}, 0)
    assert (t2["triggers"], t2["late_events"]) == ({"cart_abandoned": 2}, 1)
