"""The live stage's per-record decisions, without a broker: ticks fire due deadlines,
events write their state and triggers, a redelivered offset is skipped, and what is not a
canonical event becomes one dead letter."""

from __future__ import annotations

import orjson

from models.deadletters import original_payload
from models.settings import load_settings
from streams.kafka.records import Consumed
from streams.live.state import OFFSET_KEY, LiveConfig, PartitionState
from streams.stages.live import LiveDecisions
from tests.unit.streams.live.test_state import MIN, T0, add

SETTINGS = load_settings()
TOPICS = SETTINGS.topics
WALL = T0  # the wall clock is pinned to the event time of the traffic


def decisions() -> LiveDecisions:
    return LiveDecisions(TOPICS, "live-changelog")


def state() -> PartitionState:
    return PartitionState(LiveConfig.from_settings(SETTINGS))


def event(body: dict, offset: int) -> Consumed:
    return Consumed(TOPICS.events, 2, offset, b"alice", orjson.dumps(body))


def tick(offset: int) -> Consumed:
    return Consumed(TOPICS.ticks, 2, offset, None, b"")


def test_an_event_writes_its_state_and_offset_to_the_changelog_of_its_partition() -> None:
    d, s = decisions(), state()
    step = d.handle(s, event(add(T0), 0), WALL)
    assert step.kind == "event" and step.triggers == []
    changelog = {orjson.loads(r.key): r for r in step.records}
    assert all(r.topic == "live-changelog" and r.partition == 2 for r in changelog.values())
    assert orjson.loads(changelog[OFFSET_KEY].value) == 0
    assert any(key.startswith("c|") for key in changelog)  # the cart


def test_a_redelivered_offset_is_skipped() -> None:
    d, s = decisions(), state()
    d.handle(s, event(add(T0), 5), WALL)
    again = d.handle(s, event(add(T0), 5), WALL)
    assert again.kind == "replayed" and again.records == []


def test_a_tick_fires_a_due_deadline_as_a_trigger_record() -> None:
    d, s = decisions(), state()
    d.handle(s, event(add(T0), 0), WALL)
    assert d.handle(s, tick(0), WALL + 29 * MIN).triggers == []
    step = d.handle(s, tick(1), WALL + 31 * MIN)  # the stream idles past the deadline
    assert step.kind == "tick"
    [(trigger, encoded)] = step.triggers
    assert trigger.type == "cart_abandoned"
    out = [r for r in step.records if r.topic == TOPICS.triggers["cart_abandoned"]]
    assert [(r.key, r.value) for r in out] == [(b"alice", encoded)]
    assert orjson.loads(encoded)["trigger_id"] == trigger.trigger_id
    assert d.handle(s, tick(2), WALL + 60 * MIN).triggers == []  # once


def test_what_is_not_a_canonical_event_becomes_one_dead_letter() -> None:
    d, s = decisions(), state()
    for offset, bad in enumerate([b"not json", b'{"foo": 1}']):
        step = d.handle(s, Consumed(TOPICS.events, 2, offset, b"k", bad), WALL)
        assert step.kind == "dead_letter"
        letter, applied = step.records
        body = orjson.loads(letter.value)
        assert letter.topic == TOPICS.dlq and body["stage"] == "live"
        assert original_payload(body) == bad and body["source"]["offset"] == offset
        assert (orjson.loads(applied.key), orjson.loads(applied.value)) == (OFFSET_KEY, offset)
    # redelivered after a crash, before its offset committed: not sent twice
    assert d.handle(s, Consumed(TOPICS.events, 2, 1, b"k", b'{"foo": 1}'), WALL).kind == "replayed"


def test_housekeeping_runs_only_when_asked() -> None:
    def tombstones(housekeeping: bool) -> set[str]:
        d, s = decisions(), state()
        d.handle(s, event(add(T0), 0), WALL)
        step = d.handle(s, tick(0), WALL + 2 * 86_400_000, housekeeping=housekeeping)
        return {orjson.loads(r.key)[0] for r in step.records
                if r.topic == "live-changelog" and r.value is None}

    assert "s" not in tombstones(False)  # (the abandoned cart itself goes at its deadline)
    assert tombstones(True) >= {"s", "f"}  # the quiet session and its day-old funnel window
