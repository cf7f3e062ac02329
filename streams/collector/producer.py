"""The collector's Kafka edge: an idempotent producer whose acknowledgements an asyncio
request can await. Each request's events share one future that completes when Kafka
acknowledged (or refused) the last of them.

librdkafka's delivery reports are served on the event loop's own thread, by a task that polls
every millisecond while events are in flight: a separate polling thread would take the GIL
from the busy loop once per report (``make bench-collector``: about 10% more events per
second this way, the same latency).

The same task replaces a producer that cannot deliver: one whose requests have been failing
for ``replace_after_s`` (:data:`REPLACE_AFTER_ACK_TIMEOUTS` acknowledgement timeouts, at
least :data:`MIN_REPLACE_AFTER_S`: a first and a latest failure that far apart) with not one
event acknowledged meanwhile, or one that reported a fatal error (librdkafka's remedy for
those is a new instance), at most once per ``replace_after_s``. One failure and then quiet
(a blip) replaces nothing, nor does a producer that still delivers to some partitions. The
old producer's events are purged: their requests are answered 503, as for any event not
acknowledged, and a client's resend is deduplicated downstream.

After a fatal error ``failure`` stays set (``/health`` 503) until the new producer shows it
reaches Kafka: an event acknowledged, or, with no traffic, the topic's metadata answered
(asked every :data:`PROBE_EVERY_S`): an idle collector behind a balancer that routes on
``/health`` would otherwise get no traffic to recover with."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from streams.collector import metrics

log = logging.getLogger(__name__)
REPORT_POLL_S = 0.001  # while events are in flight: how often their reports are collected
IDLE_POLL_S = 0.1
REPLACE_AFTER_ACK_TIMEOUTS = 6  # failing this many ack timeouts, none acked: a new producer
MIN_REPLACE_AFTER_S = 30.0
PROBE_EVERY_S = 5.0  # after a fatal error's replacement, idle: how often Kafka is asked


class NotAcknowledged(Exception):
    """Kafka did not acknowledge every event of a request in time (or refused one)."""


class _Request:
    """The delivery reports of one request's events (served on the event loop)."""

    __slots__ = ("loop", "owner", "generation", "future", "count", "remaining", "error")

    def __init__(self, loop: asyncio.AbstractEventLoop, owner: AckingProducer, count: int) -> None:
        self.loop = loop
        self.owner = owner
        self.generation = owner.replacements  # the producer its events went to
        self.future: asyncio.Future[KafkaError | None] = loop.create_future()
        self.count = count
        self.remaining = count
        self.error: KafkaError | None = None

    def delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.owner.acknowledged(self.generation)
        elif self.error is None:
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
                 config: dict[str, Any] | None = None, replace_after_s: float | None = None) -> None:
        self.topic = topic
        self.ack_timeout_s = ack_timeout_s
        self.replace_after_s = (max(MIN_REPLACE_AFTER_S, REPLACE_AFTER_ACK_TIMEOUTS * ack_timeout_s)
                                if replace_after_s is None else replace_after_s)
        self.fatal: str | None = None  # the current producer's fatal error: it sends nothing more
        self.failure: str | None = None  # the last fatal error, until an event is acknowledged
        self.replacements = 0  # producers replaced so far (also a metric)
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 2,
            "batch.num.messages": 10_000,
            # librdkafka gives up on an event when the request has (503): a client retries
            "message.timeout.ms": int(ack_timeout_s * 1000),
            "client.id": "shopstream-collector",
            **(config or {}),
        }
        self._producer = self._new_producer(generation=0)
        self._retired: list[Producer] = []  # replaced producers, polled until their reports are in
        self._since = self._last_ack = time.monotonic()  # the producer's start; the last ack
        # the first and the latest failed request since the last ack
        self._first_failure: float | None = None
        self._last_failure = 0.0
        self._running = True
        self._in_flight = 0  # requests produced and not yet fully reported
        self._reports: asyncio.Task[None] | None = None
        self._work: asyncio.Event | None = None
        self._probe: asyncio.Task[None] | None = None
        self._next_probe = 0.0

    def _new_producer(self, generation: int) -> Producer:
        def on_error(err: KafkaError) -> None:
            if generation == self.replacements:  # (a replaced producer's errors are its own)
                self._on_error(err)

        return Producer({**self._config, "error_cb": on_error})

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = self.failure = str(err)
            log.error("the Kafka producer failed for good: %s (it will be replaced)", err)
        else:
            log.warning("Kafka: %s", err)

    def acknowledged(self, generation: int) -> None:
        """An event was acknowledged (called from its delivery report); one of a replaced
        producer says nothing about the current one."""
        if generation == self.replacements:
            self._last_ack = time.monotonic()
            self._first_failure = None
            self.failure = None

    @property
    def seconds_since_ack(self) -> float:
        """Since Kafka last acknowledged an event (or since this producer was made)."""
        return time.monotonic() - max(self._since, self._last_ack)

    def _replace_if_stuck(self, now: float) -> None:
        """A new producer if this one failed for good, or its requests have failed for
        ``replace_after_s`` with no event acknowledged; at most one per ``replace_after_s``."""
        if now - self._since < self.replace_after_s:
            return
        failing = (self._last_failure - self._first_failure
                   if self._first_failure is not None else 0.0)
        if self.fatal is None and failing < self.replace_after_s:
            return
        why = f"it failed: {self.fatal}" if self.fatal else \
            f"its requests failed for {failing:.0f} s, no event acknowledged"
        producer = self._new_producer(generation=self.replacements + 1)
        old, self._producer = self._producer, producer
        self.replacements += 1
        self._since, self._first_failure, self.fatal = now, None, None
        self._next_probe = now + PROBE_EVERY_S
        # its events' reports come with an error (served by _serve_reports): 503 for them.
        # (confluent-kafka's purge() as called does not wait for librdkafka's broker threads)
        old.purge()
        self._retired.append(old)
        metrics.PRODUCER_REPLACEMENTS.inc()
        log.warning("replaced the Kafka producer: %s", why)

    def start(self) -> None:
        """Serve delivery reports (and error callbacks) on the running event loop."""
        if self._reports is None or self._reports.done():
            self._work = asyncio.Event()
            self._reports = asyncio.get_running_loop().create_task(
                self._serve_reports(), name="collector-delivery-reports")

    async def _serve_reports(self) -> None:
        assert self._work is not None
        while self._running:
            self._producer.poll(0)
            if self._retired:
                self._retired = [old for old in self._retired if old.poll(0) or len(old)]
            self._replace_if_stuck(time.monotonic())
            if self._in_flight:
                await asyncio.sleep(REPORT_POLL_S)
                continue
            self._probe_if_due(time.monotonic())
            self._work.clear()
            try:  # idle: still poll now and then for the error callback
                await asyncio.wait_for(self._work.wait(), IDLE_POLL_S)
            except TimeoutError:
                pass

    def _probe_if_due(self, now: float) -> None:
        """Ask Kafka, in a thread, whether the producer made after a fatal error reaches it."""
        if (self.failure is None or self.fatal is not None or now < self._next_probe
                or (self._probe is not None and not self._probe.done())):
            return
        self._next_probe = now + PROBE_EVERY_S
        self._probe = asyncio.get_running_loop().create_task(
            self._reaches_kafka(self._producer, self.replacements), name="collector-probe")

    async def _reaches_kafka(self, producer: Producer, generation: int) -> None:
        try:
            await asyncio.to_thread(producer.list_topics, self.topic, PROBE_EVERY_S)
        except KafkaException as exc:
            log.info("the Kafka producer does not reach Kafka yet: %s", exc)
            return
        if generation == self.replacements and self.fatal is None and self.failure is not None:
            log.info("the new Kafka producer reaches Kafka: healthy again")
            self.failure = None

    async def send(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        if not records:
            return
        try:
            await self._send(records)
        except NotAcknowledged:
            self._last_failure = time.monotonic()
            if self._first_failure is None:
                self._first_failure = self._last_failure
            raise

    async def _send(self, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        if self.fatal is not None:
            raise NotAcknowledged(f"the producer has failed: {self.fatal}")
        self.start()
        request = _Request(asyncio.get_running_loop(), self, len(records))
        produced = 0
        try:
            for key, value in records:
                self._producer.produce(self.topic, value, key, on_delivery=request.delivered)
                produced += 1
        except BufferError:
            request.count = request.remaining = produced  # their reports still come
            raise NotAcknowledged("the producer's queue is full") from None
        except KafkaException as exc:  # (a fatal error not reported yet, above all)
            request.count = request.remaining = produced
            raise NotAcknowledged(f"Kafka refused an event: {exc}") from None
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

    async def aclose(self, timeout: float = 10.0) -> int:
        """Stop serving reports, then deliver what is queued (up to ``timeout``, in a thread);
        the number of events left undelivered. Call it after the loop stopped sending."""
        self._running = False
        if self._reports is not None:
            assert self._work is not None
            self._work.set()
            await self._reports
        if self._probe is not None:
            self._probe.cancel()  # (its thread ends within PROBE_EVERY_S; its answer unused)
        return await asyncio.to_thread(self.close, timeout)

    def close(self, timeout: float = 10.0) -> int:
        """Deliver what is queued (up to ``timeout``); the number of events left undelivered.
        Blocks: off the event loop, with reports no longer served there (:meth:`aclose`)."""
        self._running = False
        for old in self._retired:
            old.flush(0)
        return self._producer.flush(timeout)
