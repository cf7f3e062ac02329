"""The collector's producer replaces itself when it cannot deliver: when its requests have
failed for a while with no event acknowledged (a producer left stuck, or no broker at all),
and after a fatal error (a new instance is librdkafka's remedy); not for one failure and
quiet. Real librdkafka; a real broker for the recovery."""

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


# what librdkafka reports when the producer cannot go on (idempotence broken, ...)
FATAL = KafkaError(KafkaError._FATAL, "idempotence broken", fatal=True)


def _on_a_fresh_topic(kafka: str) -> tuple[str, AckingProducer]:
    """A new raw topic and a collector producer for it that replaces itself 2 s after a
    fatal error."""
    topic = f"producer-{uuid.uuid4().hex[:8]}.raw"
    return topic, AckingProducer(kafka, topic, ack_timeout_s=30.0, replace_after_s=2.0)


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_requests_failing_for_a_while_get_a_new_producer_and_a_blip_does_not():
    async def scenario() -> dict[str, object]:
        # nothing to deliver to: every request fails after its 0.5 s acknowledgement timeout
        producer = AckingProducer(f"127.0.0.1:{_closed_port()}", "nowhere", ack_timeout_s=0.5,
                                  replace_after_s=3.0)
        replaced_before = metrics.PRODUCER_REPLACEMENTS._value.get()
        unacked_before = metrics.UNACKED._value.get()
        answers: list[str] = []

        async def send(value: bytes) -> None:
            try:
                await producer.send([(b"k", value)])
                answers.append("acknowledged")
            except NotAcknowledged as exc:
                answers.append(str(exc))

        try:
            await send(b"blip")  # one failure, then quiet past replace_after_s: kept
            await asyncio.sleep(4.0)
            after_blip = producer.replacements
            deadline = time.monotonic() + 60  # then failing requests, 3 s apart and more
            while producer.replacements == after_blip and time.monotonic() < deadline:
                await send(b"again")
            failing = len(answers) - 1
            while producer._retired and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # the replaced producer's reports are all served
            return {"after_blip": after_blip, "failing": failing, "answers": set(answers),
                    "replacements": producer.replacements, "retired": len(producer._retired),
                    "in_flight": producer._in_flight,
                    "metric": metrics.PRODUCER_REPLACEMENTS._value.get() - replaced_before,
                    "unacked": metrics.UNACKED._value.get() - unacked_before}
        finally:
            await producer.aclose(0.1)

    seen = asyncio.run(scenario())
    assert seen["after_blip"] == 0, f"one failed request and quiet replaced it: {seen}"
    assert seen["replacements"] == 1 and seen["metric"] == 1, seen
    # the blip and a failure 4 s later: failing that long with nothing acknowledged
    assert int(seen["failing"]) >= 1, seen
    assert not {a for a in seen["answers"] if "acknowledge" not in a and "refused" not in a}, seen
    assert seen["retired"] == 0 and seen["in_flight"] == 0 and seen["unacked"] == 0, seen


def test_after_a_fatal_error_a_new_producer_delivers_and_health_recovers(kafka):
    topic, producer = _on_a_fresh_topic(kafka)

    async def scenario() -> list[str]:
        answers: list[str] = []
        try:
            await producer.send([(b"k", b"before")])
            answers.append(f"ok, failure={producer.failure}")
            producer._on_error(FATAL)
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
        f"the producer has failed: {FATAL}, failure={FATAL}",
        f"replacements=1, failure={FATAL}",  # unhealthy until an event is acknowledged
        "ok, failure=None, fatal=None"], answers
    values = [record.value for record in read_topic(kafka, topic, timeout=60)]
    assert values == [b"before", b"after"], values


def test_after_a_fatal_error_an_idle_collector_recovers_without_traffic(kafka):
    """With no request to show it, the new producer's answer from Kafka (the topic's
    metadata) ends the failure: an idle collector behind a balancer routing on /health
    would otherwise stay 503 for good."""
    _topic, producer = _on_a_fresh_topic(kafka)

    async def scenario() -> list[str]:
        seen: list[str] = []
        try:
            await producer.send([(b"k", b"before")])
            producer._on_error(FATAL)
            deadline = time.monotonic() + 60
            while producer.failure is not None and time.monotonic() < deadline:
                state = f"replacements={producer.replacements}, failure={producer.failure}"
                if not seen or seen[-1] != state:
                    seen.append(state)
                await asyncio.sleep(0.05)
            seen.append(f"replacements={producer.replacements}, failure={producer.failure}")
            return seen
        finally:
            await producer.aclose(10.0)

    seen = asyncio.run(scenario())
    # unhealthy while the failed producer is current and after its replacement, until the
    # new one got its answer; healthy then, with no event sent
    assert seen == [f"replacements=0, failure={FATAL}", f"replacements=1, failure={FATAL}",
                    "replacements=1, failure=None"], seen
