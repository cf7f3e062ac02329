"""Dead letters of the ClickHouse sink: records on ``shop.events`` it cannot write (not a
canonical event, or rows ClickHouse refuses for good), sent to the dead-letter topic with
the original bytes, where they came from and why, before the sink commits past them."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from models.deadletters import dead_letter, dead_letter_key
from models.errors import Code, Issue
from sinks import metrics

log = logging.getLogger(__name__)

# (offset, key, value, reason)
Refused = tuple[int, bytes | None, bytes, str]


class SinkStopped(Exception):
    """Raised inside the sink thread when it is asked to stop while waiting (on ClickHouse,
    or on Kafka to take its dead letters)."""


class DeadLetterSender:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                                  "acks": "all", "linger.ms": 5, "compression.type": "lz4"})

    def send(self, source_topic: str, partition: int, refused: list[Refused],
             stop: threading.Event) -> None:
        """Produce and wait for delivery (retried while Kafka is away): a dead letter is
        never dropped. After a crash before the commit they may be sent again (at least
        once: the sink's dead letters carry their source offset to tell)."""
        failures: list[str] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                failures.append(str(err))

        for offset, key, value, reason in sorted(refused):
            letter = dead_letter(value, [Issue(Code.VALUE_INVALID, "", reason[:1000])],
                                 topic=source_topic, partition=partition, offset=offset, key=key,
                                 failed_at=datetime.now(UTC), stage="sink")
            log.warning("%s[%d]@%d dead-lettered by the sink: %s", source_topic, partition,
                        offset, reason[:200])
            metrics.SINK_DEAD_LETTERS.inc()
            while True:
                try:
                    self.producer.produce(self.topic, letter, dead_letter_key(key),
                                          on_delivery=delivered)
                    break
                except BufferError:
                    self.producer.poll(0.1)
        while self.producer.flush(5) > 0 or failures:
            if stop.is_set() and self.producer.flush(0) > 0:
                raise SinkStopped("stopped while sending dead letters")
            if failures:  # the sink dies (and the worker with it) rather than skip them
                raise RuntimeError(f"dead letters not delivered to {self.topic}: {failures[0]}")

    def close(self) -> None:
        self.producer.flush(10)
