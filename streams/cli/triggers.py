"""``shopstream triggers tail TOPIC``: a small example consumer of a trigger topic.

It reads with ``isolation.level=read_committed`` (only triggers whose transaction
committed: exactly once), in a consumer group of your choosing so a restarted
consumer carries on where it stopped, and prints one JSON object per line.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from models.errors import ShopstreamError
from models.settings import TRIGGER_KINDS, Settings


def resolve_topic(settings: Settings, name: str) -> str:
    """``cart_abandoned`` or the full topic name (prefix included)."""
    topics = settings.topics.triggers
    if name in topics:
        return topics[name]
    if name in topics.values():
        return name
    raise ShopstreamError(f"unknown trigger topic {name!r}; choose from "
                          f"{', '.join(TRIGGER_KINDS)} (or the full names: "
                          f"{', '.join(topics.values())})")


def start_where_the_group_stopped(consumer: Consumer, partitions: list[TopicPartition],
                                  from_beginning: bool) -> None:
    """On assignment to a named group: a partition the group has a position in goes on
    from it; one it never had (a new group, or a partition it never read from) starts at
    the beginning with ``--from-beginning``, else at its end *now*, and that start is
    committed at once. Left to ``auto.offset.reset=latest``, a partition that got no trigger
    before the consumer stopped had no position, and the next run started at its end then,
    passing over the triggers sent in between."""
    committed = consumer.committed(partitions, timeout=10)
    fresh = [tp for tp in committed if tp.offset < 0]
    for tp in fresh:
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        tp.offset = low if from_beginning else high
    if fresh:
        consumer.commit(offsets=fresh, asynchronous=False)
    consumer.assign(committed)


def tail(bootstrap: str, topic: str, *, group: str | None, from_beginning: bool,
         max_messages: int | None, idle_timeout: float | None, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout  # looked up now: a later redirection holds
    config = {"bootstrap.servers": bootstrap, "isolation.level": "read_committed",
              "group.id": group or f"shopstream-tail-{int(time.time())}",
              # a named group commits what was printed (stored after printing, committed
              # as it goes and at the end)
              "enable.auto.commit": bool(group), "enable.auto.offset.store": False,
              "auto.offset.reset": "earliest" if from_beginning else "latest"}
    consumer = Consumer(config)
    if group:
        consumer.subscribe([topic], on_assign=lambda c, partitions: start_where_the_group_stopped(
            c, partitions, from_beginning))
    else:
        consumer.subscribe([topic])
    printed = 0
    last = time.monotonic()
    try:
        while max_messages is None or printed < max_messages:
            message = consumer.poll(0.5)
            if message is None:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    break
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise ShopstreamError(f"reading {topic}: {error}")
            last = time.monotonic()
            value = message.value()
            if value is None:  # a tombstone: no trigger to print
                continue
            trigger = orjson.loads(value)
            out.write(orjson.dumps(trigger).decode() + "\n")
            out.flush()
            printed += 1
            if group:
                consumer.store_offsets(message)
    finally:
        if group:
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as exc:  # nothing stored since the last commit, or none
                if exc.args[0].code() != KafkaError._NO_OFFSET:
                    raise
        consumer.close()
    return printed
