"""The traffic the benchmark sends: simulated raw events, the canonical events the validation
stage makes of them, and live traffic stamped with the wall clock (the latency run)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from models.serde import dumps, event_to_json
from models.settings import Settings
from models.times import format_time, parse_iso
from models.validation import validate_bytes
from streams.sources.simulator import SimConfig, simulate
from streams.stages.validation import rules_from


class Message(NamedTuple):
    """One record to produce; ``partition`` None means: by key, as producers do."""

    key: bytes | None
    value: bytes
    partition: int | None = None


def raw_events(n: int, rate: float, seed: int = 42, stretch: float = 1.0) -> list[Message]:
    """``n`` simulated raw messages (2% malformed, 1% duplicates), ``rate`` events per second
    of event time from 2026-01-01. ``stretch`` > 1 spreads the same events over that many
    times the event time (a resent duplicate keeps its original's time): the same bytes
    but the timestamps, so a comparison measures the span alone, not another mix of
    events (the simulator's mix depends on its rate: it keeps ``rate`` x 20 sessions open)."""
    config = SimConfig(seed=seed, rate=rate)
    out = []
    for event in itertools.islice(simulate(config), n):
        value = event.value
        if stretch != 1.0 and isinstance(value, dict) and "timestamp" in value:
            value = {**value, "timestamp": stretched(value["timestamp"], config.start, stretch)}
        out.append(Message(event.key.encode() if event.key else None,
                           value if isinstance(value, bytes) else dumps(value)))
    return out


def stretched(timestamp: str, start: datetime, factor: float) -> str:
    try:
        return format_time(start + (parse_iso(timestamp) - start) * factor)
    except ValueError:
        return timestamp  # a malformed event's broken timestamp stays broken


def canonical_events(raw: list[Message], settings: Settings) -> list[Message]:
    """What the validation stage writes for ``raw``: the canonical event of each valid one,
    the first copy of each messageId. Used when run 3 (whose output is copied otherwise)
    is skipped; partitions are then left to the producer."""
    rules, now, seen, out = rules_from(settings), datetime.now(UTC), set(), []
    for message in raw:
        event = validate_bytes(message.value, rules, now).event
        if event is None or event.messageId in seen:
            continue
        seen.add(event.messageId)
        out.append(Message(event.key.encode(), event_to_json(event)))
    return out


class Stamped(NamedTuple):
    message_id: str
    key: bytes | None
    value: bytes


def stamped_now(rate: float, seed: int = 5) -> Iterator[Stamped]:
    """Valid simulated events (no malformed, no duplicates), each stamped with the wall
    clock as it is taken: live traffic whose event time is now."""
    config = SimConfig(seed=seed, rate=rate, start=datetime.now(UTC), malformed=0, duplicates=0)
    for event in simulate(config):
        assert isinstance(event.value, dict)
        value = {**event.value, "timestamp": format_time(datetime.now(UTC))}
        message_id = value.get("messageId") or value["message_id"]  # flat envelopes
        yield Stamped(message_id, event.key.encode() if event.key else None, dumps(value))
