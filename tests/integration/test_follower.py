"""A compacted topic followed by a thread, on a real broker: what it reports while the
topic is not ready, and that the report clears once the topic answers (the collector's
``/health`` is built on it)."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streams.kafka.follower import TopicFollower
from tests.support import wait_for

pytestmark = pytest.mark.integration


def test_an_error_while_the_topic_is_not_ready_clears_once_it_answers(kafka, prefix):
    topic = f"{prefix}followed"
    seen: dict[bytes, bytes | None] = {}
    follower = TopicFollower(kafka, topic, seen.__setitem__, "followed records").start()
    try:
        # the topic does not exist yet: the follower says why it is not loaded
        wait_for(lambda: follower.error, 30, "the follower to report the missing topic")
        assert not follower.loaded.is_set()

        admin = AdminClient({"bootstrap.servers": kafka})
        for future in admin.create_topics([NewTopic(topic, 1, 1, config={
                "cleanup.policy": "compact"})]).values():
            future.result(30)
        producer = Producer({"bootstrap.servers": kafka})
        producer.produce(topic, key=b"k1", value=b"v1")
        assert producer.flush(30) == 0

        follower.wait_loaded(90)
        wait_for(lambda: seen.get(b"k1"), 30, f"the record to be applied (seen: {seen})")
        assert follower.error is None, follower.error
        assert follower.alive
    finally:
        follower.stop()
