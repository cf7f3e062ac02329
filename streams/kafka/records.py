"""What a stage consumes and what it asks the runtime to write: plain values, no Kafka
client in sight, so a stage's decisions are unit-tested without a broker. Named tuples: a
stage makes several per event, and one costs a quarter of a frozen dataclass to make."""

from __future__ import annotations

from typing import NamedTuple


class Consumed(NamedTuple):
    """One consumed record, as a stage sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None  # the record's Kafka timestamp, when it has one


class Record(NamedTuple):
    """One record to produce (``partition`` None: the producer's partitioner decides)."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None


def consumed_from(event: object) -> Consumed:
    """A Faust event's message as a :class:`Consumed` (the runtime's adapter)."""
    message = event.message  # type: ignore[attr-defined]
    value = event.value  # type: ignore[attr-defined]
    return Consumed(message.topic, message.partition, message.offset, message.key,
                    value if isinstance(value, bytes | None) else bytes(value))
