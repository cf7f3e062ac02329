"""Validation stage: ``shop.events.raw`` -> ``shop.events`` | ``shop.events.dlq``.

Each raw event is validated (:mod:`models.validation`), checked against the
dedupe window, and forwarded canonical and keyed by user; a bad one becomes a
dead letter with its original bytes. Nothing here raises on bad input.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from models.serde import event_to_json
from models.validation import Rules, validate_bytes
from streams import metrics
from streams.deadletter import dead_letter
from streams.dedupe import ExpiryQueue
from streams.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


def rules_from(settings: Settings) -> Rules:
    return Rules(
        default_tenant=settings.default_tenant,
        max_future_skew=timedelta(seconds=settings.max_future_skew_s),
        max_event_bytes=settings.max_event_bytes,
    )


def register_validation(app: faust.App, settings: Settings, clock: Clock = wall_clock) -> Any:
    """Declare the topics, the dedupe table and the validation agent on ``app``."""
    topics = settings.topics
    raw_topic = app.topic(topics.raw, key_serializer="raw", value_serializer="raw")
    events_topic = app.topic(topics.events, key_serializer="raw", value_serializer="raw")
    dlq_topic = app.topic(topics.dlq, key_serializer="raw", value_serializer="raw")
    seen = app.Table(
        "dedupe-message-ids",
        key_type=str,
        partitions=settings.topic_partitions,
        help="messageId -> [event time ms, partition], for the dedupe window",
    )
    rules = rules_from(settings)
    expiry = ExpiryQueue(window_ms=int(settings.dedupe_window_s * 1000))

    def adopt_partition(partition: int) -> None:
        """After a (re)assignment, learn the ids recovered for this partition."""
        entries = [
            (message_id, value[0])
            for message_id, value in seen.items()
            if isinstance(value, list) and value[1] == partition
        ]
        expiry.load(partition, entries)

    def forget_expired(partition: int) -> None:
        for message_id in expiry.pop_expired(partition):
            seen.data.pop(message_id, None)
            seen.send_changelog(partition, message_id, None, value_serializer="raw")

    in_counter = metrics.EVENTS_IN.labels(topics.raw)
    out_counter = metrics.EVENTS_OUT.labels(topics.events)
    dlq_counter = metrics.EVENTS_OUT.labels(topics.dlq)

    @app.agent(raw_topic, name="validate")
    async def validate(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            raw: bytes = event.value if isinstance(event.value, bytes) else bytes(event.value or b"")
            in_counter.inc()
            now = clock()
            started = time.perf_counter()
            result = validate_bytes(raw, rules, now)
            metrics.VALIDATION_SECONDS.observe(time.perf_counter() - started)
            if result.event is None:
                metrics.EVENTS_REJECTED.labels(result.issues[0].code).inc()
                await dlq_topic.send(
                    key=message.key,
                    value=dead_letter(
                        raw,
                        result.issues,
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                        key=message.key,
                        failed_at=now,
                    ),
                )
                dlq_counter.inc()
                continue

            canonical = result.event
            partition = message.partition
            if not expiry.knows(partition):
                adopt_partition(partition)
            message_id = canonical.messageId
            if seen.get(message_id) is not None:
                metrics.EVENTS_DUPLICATE.inc()
                continue
            ts_ms = int(canonical.timestamp.timestamp() * 1000)
            if expiry.is_fresh(partition, ts_ms):
                seen[message_id] = [ts_ms, partition]
                expiry.add(partition, message_id, ts_ms)
                forget_expired(partition)
            await events_topic.send(key=canonical.key.encode(), value=event_to_json(canonical))
            out_counter.inc()
        metrics.DEDUPE_IDS.set(len(expiry))

    @app.timer(5.0)
    async def report_lag() -> None:
        metrics.DEDUPE_IDS.set(len(expiry))
        consumer = app.consumer
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
            if highwater is not None and position is not None:
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                    max(highwater - position, 0)
                )

    return validate
