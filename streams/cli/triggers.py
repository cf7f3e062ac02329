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
from confluent_kafka import Consumer, KafkaError

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


def tail(bootstrap: str, topic: str, *, group: str | None, from_beginning: bool,
         max_messages: int | None, idle_timeout: float | None, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout  # looked up now: a later redirection holds
    config = {"bootstrap.servers": bootstrap, "isolation.level": "read_committed",
              "group.id": group or f"shopstream-tail-{int(time.time())}",
              "enable.auto.commit": bool(group),
              "auto.offset.reset": "earliest" if from_beginning else "latest"}
    consumer = Consumer(config)
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
    finally:
        consumer.close()
    return printed
