"""The collector's producer replaces itself when it cannot deliver: when its events have
waited with none acknowledged (a producer left stuck, or no broker at all), and after a
fatal error (a new instance is librdkafka's remedy); never while idle. Real librdkafka; a
real broker for the recovery."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import pytest
from confluent_kafka import KafkaError

from streams.collector import metrics
from streams.collector.producer import AckingProducer, NotAcknowledged
from tests.support import read_topic

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_events_waiting_with_none_acknowledged_get_a_new_producer_and_their_requests_503():
    async def scenario() -> dict[str, object]:
        # nothing to deliver to; events would wait 60 s for their ack, the rule acts after 3 s
        producer = AckingProducer(f"127.0.0.1:{_closed_port()}", "nowhere", ack_timeout_s=60.0,
                                  replace_after_s=3.0)
        replaced_before = metrics.PRODUCER_REPLACEMENTS._value.get()
        unacked_before = metrics.UNACKED._value.get()
        try:
            producer.start()
            await asyncio.sleep(3.5)  # idle past replace_after_s: nothing is waiting
            idle_replacements = producer.replacements
            started = time.monotonic()
            try:
                await producer.send([(b"k", b"v1"), (b"k", b"v2")])
                answer = "acknowledged"
            except NotAcknowledged as exc:
                answer = str(exc)
            took = time.monotonic() - started
            deadline = time.monotonic() + 30
            while producer._retired and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # the replaced producer's reports are all served
            return {"idle": idle_replacements, "answer": answer, "took": took,
                    "replacements": producer.replacements, "retired": len(producer._retired),
                    "in_flight": producer._in_flight,
                    "metric": metrics.PRODUCER_REPLACEMENTS._value.get() - replaced_before,
                    "unacked": metrics.UNACKED._value.get() - unacked_before}
        finally:
            await producer.aclose(0.1)

    seen = asyncio.run(scenario())
    assert seen["idle"] == 0, f"an idle producer was replaced: {seen}"
    # answered when the producer was replaced (3 s), not at the 61 s timeout
    assert "Purged" in str(seen["answer"]) and 2.5 < float(seen["took"]) < 45, seen
    assert seen["replacements"] == 1 and seen["metric"] == 1, seen
    assert seen["retired"] == 0 and seen["in_flight"] == 0 and seen["unacked"] == 0, seen


def test_after_a_fatal_error_a_new_producer_delivers_and_health_recovers(kafka):
    topic = f"producer-{uuid.uuid4().hex[:8]}.raw"
    fatal = KafkaError(KafkaError._FATAL, "idempotence broken", fatal=True)

    async def scenario() -> list[str]:
        producer = AckingProducer(kafka, topic, ack_timeout_s=30.0, replace_after_s=2.0)
        answers: list[str] = []
        try:
            await producer.send([(b"k", b"before")])
            answers.append(f"ok, failure={producer.failure}")
            producer._on_error(fatal)
            try:
                await producer.send([(b"k", b"refused")])
                answers.append("ok")
            except NotAcknowledged as exc:
                answers.append(f"{exc}, failure={producer.failure}")
            deadline = time.monotonic() + 60
            while producer.replacements == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # replaced by the report task, 2 s after its start
            answers.append(f"replacements={producer.replacements}, failure={producer.failure}")
            await producer.send([(b"k", b"after")])  # the new producer
            answers.append(f"ok, failure={producer.failure}, fatal={producer.fatal}")
            return answers
        finally:
            await producer.aclose(10.0)

    answers = asyncio.run(scenario())
    assert answers == [
        "ok, failure=None",
        f"the producer has failed: {fatal}, failure={fatal}",
        f"replacements=1, failure={fatal}",  # unhealthy until an event is acknowledged
        "ok, failure=None, fatal=None"], answers
    values = [record.value for record in read_topic(kafka, topic, timeout=60)]
    assert values == [b"before", b"after"], values
