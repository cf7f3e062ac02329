"""Metadata calls asked again while Kafka answers "not yet" (a topic created a moment ago has
no known leader): an answer within the deadline is returned, a broker that never answers is
one line (ShopstreamError), and a real error is raised at once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException

from models.errors import ShopstreamError
from streams.kafka.retrying import not_yet, partitions_of, retrying


def failing(*codes: int, then: object = "answer"):
    """A call that fails with each of ``codes`` in turn, then answers ``then``."""
    left = list(codes)
    seen: list[float] = []

    def call(timeout: float) -> object:
        seen.append(timeout)
        if left:
            raise KafkaException(KafkaError(left.pop(0), "not yet"))
        return then

    return call, seen


def test_a_new_topics_missing_leader_is_asked_again_until_it_answers():
    call, seen = failing(KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                         KafkaError._UNKNOWN_PARTITION)
    assert retrying(call, "with the end of t", "b:9092", deadline_s=10, pause_s=0.01) == "answer"
    assert len(seen) == 4 and all(0 < t <= 10 for t in seen)


def test_a_broker_that_never_answers_is_one_line_naming_what_and_where():
    call, seen = failing(*[KafkaError.NOT_LEADER_FOR_PARTITION] * 1000)
    with pytest.raises(ShopstreamError) as caught:
        retrying(call, "with the end of t.shop.webhooks", "b:9092", deadline_s=0.05, pause_s=0.01)
    text = str(caught.value)
    assert "\n" not in text and "b:9092" in text and "with the end of t.shop.webhooks" in text
    assert len(seen) >= 2


def test_a_real_error_is_raised_at_once():
    call, seen = failing(KafkaError._INVALID_ARG)
    with pytest.raises(KafkaException):
        retrying(call, "x", "b:9092", deadline_s=10, pause_s=0.01)
    assert len(seen) == 1
    assert not_yet(KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)))
    assert not not_yet(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))


def test_partitions_wait_for_the_topic_and_its_leaders():
    def meta(error=None, leaders=()):
        return SimpleNamespace(topics={"t": SimpleNamespace(error=error, partitions={
            p: SimpleNamespace(leader=leader) for p, leader in enumerate(leaders)})})

    answers = [meta(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)), meta(leaders=()),
               meta(leaders=(1, -1)), meta(leaders=(1, 1, 1))]
    consumer = SimpleNamespace(list_topics=lambda topic, timeout: answers.pop(0))
    assert partitions_of(consumer, "t", "b:9092", 10, 0.01) == [0, 1, 2]  # type: ignore[arg-type]
    assert answers == []
    never = SimpleNamespace(list_topics=lambda topic, timeout: meta(leaders=()))
    with pytest.raises(ShopstreamError, match="partitions of t"):
        partitions_of(never, "t", "b:9092", deadline_s=0.05)  # type: ignore[arg-type]
