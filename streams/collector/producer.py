"""The collector's Kafka edge: an idempotent producer whose acknowledgements an asyncio
request can await. A thread serves librdkafka's delivery reports; each request's events share
one future that completes when Kafka acknowledged (or refused) the last of them."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from streams.collector import metrics

log = logging.getLogger(__name__)


class NotAcknowledged(Exception):
    """Kafka did not acknowledge every event of a request in time (or refused one)."""


class _Request:
    """The delivery reports of one request's events (called on the poll thread)."""

    __slots__ = ("loop", "future", "remaining", "error")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[KafkaError | None] = loop.create_future()
        self.remaining = count
        self.error: KafkaError | None = None

    def delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None and self.error is None:
            self.error = err
        self.remaining -= 1
        metrics.UNACKED.dec()
        if self.remaining == 0:
            self.loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if not self.future.done():  # (done: the request has given up waiting)
            self.future.set_result(self.error)


class AckingProducer:
    """``send()`` returns once Kafka acknowledged every record (``acks=all``, idempotent: no
    duplicates from the producer's own retries), or raises :class:`NotAcknowledged`."""

    def __init__(self, bootstrap: str, topic: str, ack_timeout_s: float,
                 config: dict[str, Any] | None = None) -> None:
        self.topic = topic
        self.ack_timeout_s = ack_timeout_s
        self.fatal: str | None = None
        self._producer = Producer({
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 2,
            "batch.num.messages": 10_000,
            # librdkafka gives up on an event when the request has (503): a client retries
            "message.timeout.ms": int(ack_timeout_s * 1000),
            "client.id": "shopstream-collector",
            "error_cb": self._on_error,
            **(config or {}),
        })
        self._running = True
        self._thread = threading.Thread(target=self._poll, name="collector-producer",
                                        daemon=True)
        self._thread.start()

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = str(err)
            log.error("the Kafka producer failed for good: %s", err)
        else:
            log.warning("Kafka: %s", err)

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.05)

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        if self.fatal is not None:
            raise NotAcknowledged(f"the producer has failed: {self.fatal}")
        request = _Request(asyncio.get_running_loop(), len(records))
        for key, value in records:
            try:
                self._producer.produce(self.topic, value, key, on_delivery=request.delivered)
            except BufferError:
                raise NotAcknowledged("the producer's queue is full") from None
            metrics.UNACKED.inc()
        try:
            error = await asyncio.wait_for(asyncio.shield(request.future), self.ack_timeout_s + 1.0)
        except TimeoutError:
            raise NotAcknowledged(
                f"Kafka did not acknowledge within {self.ack_timeout_s:g} s") from None
        if error is not None:
            raise NotAcknowledged(f"Kafka refused an event: {error}")

    def close(self, timeout: float = 10.0) -> int:
        """Deliver what is queued (up to ``timeout``); the number of events left undelivered."""
        left = self._producer.flush(timeout)
        self._running = False
        self._thread.join(5)
        return left
