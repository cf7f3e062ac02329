"""Validation stage: ``shop.events.raw`` -> ``shop.events`` | ``shop.events.dlq``.

Each raw event is validated (:mod:`models.validation`), checked against the
dedupe window, and forwarded canonical and keyed by user; a bad one becomes a
dead letter with its original bytes. Nothing here raises on bad input.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import orjson

from models.deadletters import dead_letter
from models.serde import event_to_json
from models.settings import Settings
from models.validation import Rules, validate_bytes
from streams.kafka.topic_reader import read_partition
from streams.kafka.transactions import EffectWriter, Record
from streams.monitoring import metrics
from streams.stages.dedupe import DedupeMemory

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


def register_validation(app: faust.App, settings: Settings, bootstrap: str,
                        clock: Clock = wall_clock) -> Any:
    """Declare the topics, the dedupe table and the validation agent on ``app``."""
    topics = settings.topics
    raw_topic = app.topic(topics.raw, key_serializer="raw", value_serializer="raw")
    # The dedupe memory is persisted in this table's changelog (Faust's exactly-once
    # machinery also needs the app to have a table). Entries are written by the agent
    # in the source partition's transaction, in Faust's JSON format.
    seen = app.Table("dedupe-message-ids", key_type=str, partitions=settings.topic_partitions,
                     help="messageId -> event time (ms): the validation stage's dedupe memory")
    rules = rules_from(settings)
    memory = DedupeMemory(window_ms=int(settings.dedupe_window_s * 1000))
    effects = EffectWriter(app)
    events_name, dlq_name = topics.events, topics.dlq
    dedupe_name = seen.changelog_topic.get_topic_name()

    async def adopt_partition(partition: int) -> None:
        """On taking over a partition, rebuild its dedupe memory from what was committed
        to the changelog (read_committed): exactly the entries whose outputs committed."""
        committed = await asyncio.to_thread(read_partition, bootstrap, dedupe_name, partition)
        entries = {orjson.loads(key): int(orjson.loads(value))
                   for key, value in committed.items() if value is not None}
        memory.load(partition, entries)
        log.info("partition %d: %d messageIds in the dedupe window", partition, len(entries))

    @app.on_partitions_revoked.connect
    async def forget_revoked(sender: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        for tp in revoked:
            if tp.topic == topics.raw:
                memory.drop(tp.partition)

    in_counter = metrics.EVENTS_IN.labels(topics.raw)
    out_counter = metrics.EVENTS_OUT.labels(topics.events)
    dlq_counter = metrics.EVENTS_OUT.labels(topics.dlq)

    @app.agent(raw_topic, name="validate")
    async def validate(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            raw = event.value if isinstance(event.value, bytes) else bytes(event.value or b"")
            in_counter.inc()
            now = clock()
            started = time.perf_counter()
            result = validate_bytes(raw, rules, now)
            metrics.VALIDATION_SECONDS.observe(time.perf_counter() - started)
            if result.event is None:
                metrics.EVENTS_REJECTED.labels(result.issues[0].code).inc()
                letter = dead_letter(raw, result.issues, topic=message.topic,
                                     partition=message.partition, offset=message.offset,
                                     key=message.key, failed_at=now)
                await effects.write(event, [Record(dlq_name, message.key, letter)])
                dlq_counter.inc()
                continue

            canonical = result.event
            partition = message.partition
            if not memory.knows(partition):
                await adopt_partition(partition)
            message_id = canonical.messageId
            if memory.seen(partition, message_id):
                metrics.EVENTS_DUPLICATE.inc()
                continue
            # the output and every change to the dedupe memory travel in one transaction
            records = [Record(events_name, canonical.key.encode(), event_to_json(canonical))]
            ts_ms = int(canonical.timestamp.timestamp() * 1000)
            if memory.remember(partition, message_id, ts_ms):
                records.append(Record(dedupe_name, orjson.dumps(message_id),
                                      orjson.dumps(ts_ms), partition))
            records.extend(Record(dedupe_name, orjson.dumps(old), None, partition)
                           for old in memory.expire(partition))
            await effects.write(event, records)
            out_counter.inc()

    @app.timer(5.0)
    async def report_lag() -> None:
        metrics.DEDUPE_IDS.set(len(memory))
        consumer = app.consumer
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
            if highwater is not None and position is not None:
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                    max(highwater - position, 0)
                )

    return validate
