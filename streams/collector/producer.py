"""The collector's Kafka edge: an idempotent producer whose acknowledgements an asyncio
request can await. Each request's events share one future that completes when Kafka
acknowledged (or refused) the last of them.

librdkafka's delivery reports are served on the event loop's own thread, by a task that polls
every millisecond while events are in flight: a separate polling thread would take the GIL
from the busy loop once per report (``make bench-collector``: about 10% more events per
second this way, the same latency)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from streams.collector import metrics

log = logging.getLogger(__name__)
REPORT_POLL_S = 0.001  # while events are in flight: how often their reports are collected
IDLE_POLL_S = 0.1


class NotAcknowledged(Exception):
    """Kafka did not acknowledge every event of a request in time (or refused one)."""


class _Request:
    """The delivery reports of one request's events (served on the event loop)."""

    __slots__ = ("loop", "future", "count", "remaining", "error")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[KafkaError | None] = loop.create_future()
        self.count = count
        self.remaining = count
        self.error: KafkaError | None = None

    def delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None and self.error is None:
            self.error = err
        self.remaining -= 1
        if self.remaining == 0:
            metrics.UNACKED.dec(self.count)
            # (thread-safe: at shutdown, the closing flush serves reports on another thread)
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
        self._in_flight = 0  # requests produced and not yet fully reported
        self._reports: asyncio.Task[None] | None = None
        self._work: asyncio.Event | None = None

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = str(err)
            log.error("the Kafka producer failed for good: %s", err)
        else:
            log.warning("Kafka: %s", err)

    def start(self) -> None:
        """Serve delivery reports (and error callbacks) on the running event loop."""
        if self._reports is None:
            self._work = asyncio.Event()
            self._reports = asyncio.get_running_loop().create_task(
                self._serve_reports(), name="collector-delivery-reports")

    async def _serve_reports(self) -> None:
        assert self._work is not None
        while self._running:
            self._producer.poll(0)
            if self._in_flight:
                await asyncio.sleep(REPORT_POLL_S)
                continue
            self._work.clear()
            try:  # idle: still poll now and then for the error callback
                await asyncio.wait_for(self._work.wait(), IDLE_POLL_S)
            except TimeoutError:
                pass

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        if self.fatal is not None:
            raise NotAcknowledged(f"the producer has failed: {self.fatal}")
        self.start()
        request = _Request(asyncio.get_running_loop(), len(records))
        produced = 0
        try:
            for key, value in records:
                self._producer.produce(self.topic, value, key, on_delivery=request.delivered)
                produced += 1
        except BufferError:
            request.count = request.remaining = produced  # their reports still come
            raise NotAcknowledged("the producer's queue is full") from None
        finally:
            if produced:
                metrics.UNACKED.inc(produced)
                self._in_flight += 1
                request.future.add_done_callback(self._reported)
                assert self._work is not None
                self._work.set()
        try:
            error = await asyncio.wait_for(asyncio.shield(request.future), self.ack_timeout_s + 1.0)
        except TimeoutError:
            raise NotAcknowledged(
                f"Kafka did not acknowledge within {self.ack_timeout_s:g} s") from None
        if error is not None:
            raise NotAcknowledged(f"Kafka refused an event: {error}")

    def _reported(self, _future: asyncio.Future[KafkaError | None]) -> None:
        self._in_flight -= 1

    def close(self, timeout: float = 10.0) -> int:
        """Deliver what is queued (up to ``timeout``); the number of events left undelivered.
        Call it off the event loop (it blocks), after the loop stopped sending."""
        self._running = False
        return self._producer.flush(timeout)
