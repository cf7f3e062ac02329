"""The collector's producer replaces itself when it cannot deliver: after a fatal error (a
new instance is librdkafka's remedy) and after a long time with nothing acknowledged (a
producer left stuck by a broker restart). Real librdkafka, a real broker for the recovery."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import pytest
from confluent_kafka import KafkaError

from streams.collector import metrics
from streams.collector.producer import AckingProducer, NotAcknowledged
from tests.support import read_topic, wait_for

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_producer_with_nothing_acknowledged_is_replaced_and_its_requests_answered():
    async def scenario() -> tuple[list[str], int, int]:
        producer = AckingProducer(f"127.0.0.1:{_closed_port()}", "nowhere", ack_timeout_s=0.5,
                                  replace_after_s=3.0)
        seen: list[str] = []
        before = metrics.PRODUCER_REPLACEMENTS._value.get()
        started = time.monotonic()
        try:
            with pytest.raises(NotAcknowledged) as first:  # within 3 s of its start: kept
                await producer.send([(b"k", b"v1")])
            seen.append(str(first.value))
            assert producer.replacements == 0, "replaced before replace_after_s"
            while time.monotonic() - started < 3.2:
                await asyncio.sleep(0.1)
            with pytest.raises(NotAcknowledged) as second:  # 3 s without an ack: replaced
                await producer.send([(b"k", b"v2"), (b"k", b"v3")])
            seen.append(str(second.value))
            replaced = producer.replacements
            with pytest.raises(NotAcknowledged):  # the new one gets its own 3 s
                await producer.send([(b"k", b"v4")])
            deadline = time.monotonic() + 10
            while producer._retired and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # the replaced producer's reports are served
            assert not producer._retired, "the replaced producer still had events"
            return seen, replaced, producer.replacements
        finally:
            await asyncio.to_thread(producer.close, 0.1)
            assert metrics.PRODUCER_REPLACEMENTS._value.get() - before == producer.replacements

    seen, replaced, total = asyncio.run(scenario())
    assert all("acknowledge" in text or "refused" in text for text in seen), seen
    assert (replaced, total) == (1, 1), (replaced, total, seen)


def test_after_a_fatal_error_the_next_request_gets_a_new_producer_that_delivers(kafka):
    topic = f"producer-{uuid.uuid4().hex[:8]}.raw"

    async def scenario() -> list[str]:
        producer = AckingProducer(kafka, topic, ack_timeout_s=20.0)
        answers: list[str] = []
        try:
            await producer.send([(b"k", b"before")])
            answers.append("ok")
            producer._on_error(KafkaError(KafkaError._FATAL, "idempotence broken", fatal=True))
            try:
                await producer.send([(b"k", b"refused")])
                answers.append("ok")
            except NotAcknowledged as exc:
                answers.append(str(exc))
            await producer.send([(b"k", b"after")])  # a new producer
            answers.append("ok")
            assert producer.replacements == 1 and producer.fatal is None
            assert producer.seconds_since_ack < 20
            return answers
        finally:
            await asyncio.to_thread(producer.close, 10.0)

    answers = asyncio.run(scenario())
    assert answers[0] == "ok" and answers[2] == "ok", answers
    assert "idempotence broken" in answers[1], answers
    values = wait_for(lambda: [r.value for r in read_topic(kafka, topic, timeout=10)] or None,
                      60, f"the events in {topic}")
    assert values == [b"before", b"after"], values
