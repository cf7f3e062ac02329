"""Triggers and dead letters -> ClickHouse rows. Pure: bytes in, tuples out.

- A trigger (``shop.triggers.<type>``, :mod:`models.triggers`) is checked against its
  type's model and becomes one ``triggers`` row: its common fields, the ones reports
  group by (cart, order, the money figure of its type, the abandonment a recovery names)
  and the whole JSON as sent, less the shopper's ``traits`` (personal data lives in
  ``users`` only). ``value`` is ``total_value`` (cart_abandoned),
  ``recovered_revenue`` (cart_recovered) or ``revenue`` (the customer triggers).
- A note of a duplicate (``shop.events.duplicates``, from the validation stage) becomes one
  ``duplicates`` row.
- A dead letter (:mod:`models.deadletters`: from validation, the live stage, the sink,
  or webhook delivery) becomes one ``dead_letters`` row: its first reason's code, every
  reason (JSON), where it came from, the original payload as recorded, and its own
  position on the dead-letter topic (its identity). Its tenant is the payload's when the
  payload is a JSON object naming one, else the default tenant (the one validation gives
  an event that names none).
"""

from __future__ import annotations

from typing import Any

import orjson

from models.money import money_or_zero
from models.serde import dumps
from models.times import ms_to_datetime, parse_iso
from models.triggers import TRIGGER_TYPES
from sinks.writer import Rows, RowSource, Target

TRIGGER_COLUMNS = (
    "tenant", "trigger_id", "type", "time", "emitted_at", "user_id", "anonymous_id", "user_key",
    "cart_id", "order_id", "session_id", "value", "currency", "abandoned_trigger_id",
    "minutes_since_abandonment", "payload",
)
DEAD_LETTER_COLUMNS = (
    "tenant", "failed_at", "stage", "code", "reasons", "source_topic", "source_partition",
    "source_offset", "source_key", "payload", "payload_encoding", "payload_bytes",
    "payload_truncated", "endpoint", "attempts", "topic", "partition", "offset",
)
VALUE_FIELDS = ("total_value", "recovered_revenue", "revenue")
DUPLICATE_COLUMNS = ("tenant", "message_id", "event_time", "seen_at", "source_topic",
                     "source_partition", "source_offset")
TRIGGERS = Target("triggers", TRIGGER_COLUMNS)
DEAD_LETTERS = Target("dead_letters", DEAD_LETTER_COLUMNS)
DUPLICATES = Target("duplicates", DUPLICATE_COLUMNS)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def trigger_row(value: bytes) -> tuple[Any, ...]:
    """The ``triggers`` row of one trigger as published; ValueError when it is not one."""
    trigger = orjson.loads(value)
    if not isinstance(trigger, dict):
        raise ValueError("a trigger is a JSON object")
    model = TRIGGER_TYPES.get(str(trigger.get("type")))
    if model is None:
        raise ValueError(f"unknown trigger type {trigger.get('type')!r}")
    model.model_validate(trigger)  # every field its type requires, with its type
    amount = next((trigger[f] for f in VALUE_FIELDS if trigger.get(f) is not None), None)
    user_id, anonymous_id = _text(trigger.get("user_id")), _text(trigger.get("anonymous_id"))
    return (
        trigger["tenant"], trigger["trigger_id"], trigger["type"], parse_iso(trigger["time"]),
        parse_iso(trigger["emitted_at"]), user_id, anonymous_id, user_id or anonymous_id,
        _text(trigger.get("cart_id")), _text(trigger.get("order_id")),
        _text(trigger.get("session_id")), money_or_zero(amount), _text(trigger.get("currency")),
        _text(trigger.get("abandoned_trigger_id")),
        float(trigger.get("minutes_since_abandonment") or 0.0),
        dumps({k: v for k, v in trigger.items() if k != "traits"}).decode()
        if trigger.get("traits") else value.decode("utf-8"),
    )


def _trigger_rows(value: bytes, topic: str, partition: int, offset: int) -> tuple[Rows]:
    return ([trigger_row(value)],)


TRIGGER_ROWS = RowSource((TRIGGERS,), _trigger_rows)


def payload_tenant(record: dict[str, Any], default_tenant: str) -> str:
    """The tenant a dead letter's payload names, else ``default_tenant``."""
    if record.get("payload_encoding") == "utf-8" and str(record.get("payload", "")).startswith("{"):
        try:
            payload = orjson.loads(record["payload"])
        except orjson.JSONDecodeError:
            return default_tenant
        tenant = payload.get("tenant") if isinstance(payload, dict) else None
        if isinstance(tenant, str) and tenant.strip():
            return tenant.strip()[:1024]
    return default_tenant


def dead_letter_row(value: bytes, topic: str, partition: int, offset: int,
                    default_tenant: str) -> tuple[Any, ...]:
    """The ``dead_letters`` row of one dead letter, found at ``topic[partition]@offset``."""
    record = orjson.loads(value)
    if not isinstance(record, dict):
        raise ValueError("a dead letter is a JSON object")
    reasons = record.get("reasons") or []
    source = record.get("source") or {}
    return (
        payload_tenant(record, default_tenant), parse_iso(record["failed_at"]),
        _text(record.get("stage")), _text(reasons[0].get("code")) if reasons else "",
        dumps(reasons).decode(), _text(source.get("topic")), int(source.get("partition") or 0),
        int(source.get("offset") or 0), _text(source.get("key")), _text(record.get("payload")),
        _text(record.get("payload_encoding")), int(record.get("payload_bytes") or 0),
        1 if record.get("payload_truncated") else 0, _text(record.get("endpoint")),
        int(record.get("attempts") or 0), topic, partition, offset,
    )


def duplicate_row(value: bytes) -> tuple[Any, ...]:
    """The ``duplicates`` row of one note of a duplicate the validation stage dropped."""
    note = orjson.loads(value)
    if not isinstance(note, dict):
        raise ValueError("a duplicate note is a JSON object")
    source = note["source"]
    return (str(note["tenant"]), str(note["message_id"]), ms_to_datetime(int(note["event_time"])),
            ms_to_datetime(int(note["seen_at"])), str(source["topic"]), int(source["partition"]),
            int(source["offset"]))


def dead_letter_rows(default_tenant: str, duplicates_topic: str | None = None) -> RowSource:
    """The dead-letter topics' source, with the tenant of payloads that name none; with
    ``duplicates_topic``, also the notes of duplicates read from it (table ``duplicates``)."""

    if duplicates_topic is None:
        def build(value: bytes, topic: str, partition: int, offset: int) -> tuple[Rows, ...]:
            return ([dead_letter_row(value, topic, partition, offset, default_tenant)],)

        return RowSource((DEAD_LETTERS,), build)

    def build_both(value: bytes, topic: str, partition: int, offset: int) -> tuple[Rows, ...]:
        if topic == duplicates_topic:
            return [], [duplicate_row(value)]
        return [dead_letter_row(value, topic, partition, offset, default_tenant)], []

    return RowSource((DEAD_LETTERS, DUPLICATES), build_both)
