"""The sink's consumer offsets: committing them, bounded in time, and reading how far each
partition is behind (the Kafka client side of :mod:`sinks.kafka_sink`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from confluent_kafka import Consumer, TopicPartition

from models.bounded import CallStuck, call_within

log = logging.getLogger(__name__)

# how long a synchronous offset commit may take (librdkafka's has no timeout of its own): a
# commit that takes longer fails the sink, and /health with it, and the worker restarts
COMMIT_TIMEOUT_S = 120.0


def commit_offsets(consumer: Consumer, offsets: list[TopicPartition],
                   timeout_s: float = COMMIT_TIMEOUT_S) -> None:
    """Commit ``offsets`` (after their batches were written); one that fails is logged (a
    later commit covers it, a replay is deduplicated), one that does not return in
    ``timeout_s`` raises :class:`~models.bounded.CallStuck`: the sink fails."""

    def commit(_timeout_s: float) -> None:
        consumer.commit(offsets=offsets, asynchronous=False)

    try:
        call_within(commit, timeout_s, grace_s=0.0)
    except CallStuck:
        raise
    except Exception as exc:  # noqa: BLE001 - a later commit covers it; replay is deduplicated
        log.warning("commit of %s failed: %s",
                    ", ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in offsets), exc)


def partition_lags(consumer: Consumer,
                   partitions: Iterable[tuple[str, int]]) -> Iterator[tuple[str, int, int]]:
    """(topic, partition, records not yet consumed) for each partition the consumer can say
    something about, from its cached watermarks (no broker round trip)."""
    for topic, partition in partitions:
        tp = TopicPartition(topic, partition)
        try:
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            position = consumer.position([tp])[0].offset
        except Exception:  # noqa: BLE001 - a metric only
            continue
        if high >= 0 and position >= 0:
            yield topic, partition, max(high - position, 0)


def warn_if_shared(consumer: Consumer, topics: list[str], held: int, name: str, why: str,
                   warn: Callable[[str], None]) -> None:
    """Log and ``warn`` that sink ``name`` holds only ``held`` of the topics' partitions
    (another consumer of the group holds the rest), and ``why`` that matters."""
    metadata = consumer.list_topics(timeout=10).topics
    total = sum(len(metadata[t].partitions) for t in topics if t in metadata)
    if held < total:
        said = f"{name} holds {held} of the {total} partitions of {', '.join(topics)}: {why}"
        log.warning("%s", said)
        warn(said)
