"""Kafka metadata calls asked again while the answer is "not yet" (an edge: talks to Kafka).

A topic created a moment ago has no known partition leader for a while: offsets and
watermarks then fail with NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE or an unknown
partition, which librdkafka does not all flag retriable. A command asks again until its
deadline, then says in one line what did not answer (a :class:`ShopstreamError`: exit 2),
rather than ending in a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from models.errors import ShopstreamError

T = TypeVar("T")

# "not yet": the cluster is still settling (a new topic's leader, a group's coordinator)
# or did not answer in time; anything else is a real error and is raised at once
NOT_YET = frozenset({
    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION, KafkaError._UNKNOWN_TOPIC,
    KafkaError.REQUEST_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN, KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError._WAIT_COORD, KafkaError.OFFSET_NOT_AVAILABLE,
})
DEADLINE_S = 30.0  # how long a command waits for Kafka's answer, all attempts together
PER_CALL_S = 10.0  # the most one attempt waits


def not_yet(exc: KafkaException) -> bool:
    """True when the error says to ask again (see :data:`NOT_YET`)."""
    error = exc.args[0] if exc.args else None
    return isinstance(error, KafkaError) and (error.retriable() or error.code() in NOT_YET)


def _describe(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)


def retrying(call: Callable[[float], T], what: str, bootstrap: str,
             deadline_s: float | None = None, pause_s: float = 0.5) -> T:
    """``call(timeout)`` until it answers, asked again after a "not yet" error until
    ``deadline_s`` (default :data:`DEADLINE_S`) have passed; then a ShopstreamError naming
    ``what`` did not answer. Any other KafkaException is raised as it came."""
    deadline_s = DEADLINE_S if deadline_s is None else deadline_s
    deadline = time.monotonic() + deadline_s
    while True:
        left = deadline - time.monotonic()
        try:
            return call(max(min(left, PER_CALL_S), 0.1))
        except KafkaException as exc:
            if not not_yet(exc):
                raise
            if time.monotonic() + pause_s > deadline:
                raise ShopstreamError(
                    f"Kafka at {bootstrap} did not answer {what} within {deadline_s:g} s "
                    f"({_describe(exc)}): is the broker running and healthy? "
                    "(`shopstream broker status`)") from None
            time.sleep(pause_s)


def partitions_of(consumer: Consumer, topic: str, bootstrap: str,
                  deadline_s: float | None = None, pause_s: float = 0.5) -> list[int]:
    """The topic's partition ids, once the broker knows it and a leader for each of them (a
    topic just created may be listed with none, or without leaders, for a moment)."""
    def ask(timeout: float) -> list[int]:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is not None and meta.error is not None:
            raise KafkaException(meta.error)
        if meta is None or not meta.partitions or any(
                p.leader < 0 for p in meta.partitions.values()):
            raise KafkaException(KafkaError(KafkaError.LEADER_NOT_AVAILABLE,
                                            f"{topic} has no partition leaders yet"))
        return sorted(meta.partitions)

    return retrying(ask, f"with the partitions of {topic}", bootstrap, deadline_s, pause_s)


def watermarks(consumer: Consumer, tp: TopicPartition, bootstrap: str,
               deadline_s: float | None = None) -> tuple[int, int]:
    """(low, high) offsets of a partition, asked again while its leader is not known yet."""
    def ask(timeout: float) -> tuple[int, int]:
        low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
        return int(low), int(high)

    return retrying(ask, f"with the end of {tp.topic} [{tp.partition}]", bootstrap, deadline_s)
