"""Readers that follow a topic on a thread, on a real broker: what they report while the
topic is not ready, and that they read it once it answers (the collector's and the
worker's ``/health`` are built on it)."""

from __future__ import annotations

import threading

import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from models.settings import load_settings
from streams.kafka.follower import TopicFollower, followers_health
from streams.monitoring.health import StageHealth
from streams.stages.trending import TrendingBoard
from tests.support import wait_for, wait_until_equal

pytestmark = pytest.mark.integration


def test_an_error_while_the_topic_is_not_ready_clears_once_it_answers(kafka, prefix):
    topic = f"{prefix}followed"
    seen: dict[bytes, bytes | None] = {}
    name = f"{prefix}records"
    follower = TopicFollower(kafka, topic, seen.__setitem__, name).start()
    try:
        # the topic does not exist yet: the follower says why it is not loaded, and /health
        # counts it as unwell once that has lasted longer than the limit
        wait_for(lambda: follower.error, 30, "the follower to report the missing topic")
        assert not follower.loaded.is_set()
        assert followers_health(3600)[1][name]["healthy"]
        wait_for(lambda: not followers_health(0.5)[1][name]["healthy"], 30,
                 f"the error to outlast the limit ({followers_health(0.5)[1].get(name)})")

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
        assert followers_health(0.5)[1][name] | {"error_s": None} == {
            "topic": topic, "loaded": True, "alive": True, "error": None, "error_s": None,
            "healthy": True}
    finally:
        follower.stop()
    assert name not in followers_health(0.5)[1]  # a stopped follower is not reported


def test_a_record_the_reader_cannot_take_is_skipped_and_the_follower_goes_on(kafka, prefix):
    topic = f"{prefix}followed"
    admin = AdminClient({"bootstrap.servers": kafka})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    seen: dict[bytes, bytes | None] = {}

    def apply(key: bytes, value: bytes | None) -> None:
        if value == b"null":
            raise TypeError("not a record")  # what a reader of JSON objects does with null
        seen[key] = value

    producer = Producer({"bootstrap.servers": kafka})
    producer.produce(topic, key=b"bad", value=b"null")
    producer.produce(topic, key=b"k1", value=b"v1")
    assert producer.flush(30) == 0
    follower = TopicFollower(kafka, topic, apply, "followed records").start()
    try:
        follower.wait_loaded(90)
        assert seen == {b"k1": b"v1"}
        producer.produce(topic, key=b"k2", value=b"v2")  # and it still follows
        assert producer.flush(30) == 0
        wait_for(lambda: seen.get(b"k2"), 30, f"a later record to be applied (seen: {seen})")
        assert follower.alive and follower.error is None
    finally:
        follower.stop()


def test_the_trending_board_waits_for_its_topic_instead_of_reading_nothing(kafka, prefix):
    """A board started before its topic answers is blocked, then reads it once it does
    (before, it assigned no partitions and reported itself running, empty for good)."""
    settings = load_settings(kafka_bootstrap=kafka, topic_prefix=prefix)
    health = StageHealth("trending-board")
    board = TrendingBoard(settings, kafka, health)
    thread = threading.Thread(target=board.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: health.blocked_reason, 30, "the board to say its topic is not there")
        assert health.state == "starting" and health.partitions == []
        topic = settings.topics.trending_partials
        admin = AdminClient({"bootstrap.servers": kafka})
        for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
            future.result(30)
        wait_for(lambda: health.state == "running", 60,
                 f"the board running (blocked: {health.blocked_reason})")
        assert health.partitions == [0, 1] and health.blocked_reason is None
    finally:
        board.stop()
        thread.join(10)
    # a board started on lists already there is ready (/ready) once it has read them all
    producer = Producer({"bootstrap.servers": kafka})
    for n in range(400):
        producer.produce(settings.topics.trending_partials, orjson.dumps(
            {"tenant": "t1", "scope": f"scope-{n}", "partition": n % 2,
             "items": [{"product_id": "p1", "score": 1.0}]}), partition=n % 2)
    assert producer.flush(30) == 0
    health = StageHealth("trending-board", settings.topics.trending_partials)
    board = TrendingBoard(settings, kafka, health)
    seen: list[tuple[str, int]] = []
    thread = threading.Thread(target=board.run, daemon=True)
    thread.start()
    try:
        def readiness() -> tuple[bool, int]:
            with board._lock:
                seen.append((health.state, len(board.entries)))
            return health.snapshot()["ready"], seen[-1][1]

        wait_until_equal(readiness, (True, 400), 60, "the board ready with every list read")
        assert all(count == 400 for state, count in seen if state == "running"), seen
    finally:
        board.stop()
        thread.join(10)
