"""The benchmark's watch on a stage's committed offsets (``tests/benchmarks/kafka_io.py``)
reads what its latency and throughput figures rest on: a consumer group's offsets that
travelled in a transaction count only once that transaction committed. Checked on the real
broker: offsets sent in an open transaction are not seen (and the read does not fail while
they are pending), an aborted transaction's are never seen, a committed one's are."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.benchmarks.kafka_io import GroupProgress
from tests.support import wait_until_equal


def test_the_watch_sees_a_transactions_offsets_only_once_it_committed(kafka: str) -> None:
    topic = f"watch-{uuid.uuid4().hex[:8]}"
    group = f"{topic}-stage"
    admin = AdminClient({"bootstrap.servers": kafka})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": kafka, "transactional.id": f"{topic}-tx"})
    producer.init_transactions(30)
    member = Consumer({"bootstrap.servers": kafka, "group.id": group})
    watch = GroupProgress(kafka, group, topic)
    try:
        def in_transaction(offset: int) -> None:
            producer.begin_transaction()
            producer.produce(topic, b"x")
            producer.send_offsets_to_transaction([TopicPartition(topic, 0, offset)],
                                                 member.consumer_group_metadata(), 30)
            producer.flush(30)

        in_transaction(42)
        pending = watch.committed()
        assert pending.get(0, -1) < 0 and watch.error is None, (pending, watch.error)
        producer.commit_transaction(30)
        # (the commit returns before the markers are written: the offsets show soon after)
        wait_until_equal(watch.committed, {0: 42}, 30, "the committed transaction's offsets")
        assert watch.error is None, watch.error

        in_transaction(84)
        assert watch.committed() == {0: 42}, "a pending transaction's offsets were seen"
        producer.abort_transaction(30)
        # the next transaction can add offsets only once the abort's markers are written, so
        # from then on the aborted offsets would show if they ever were going to
        in_transaction(126)
        assert watch.committed() == {0: 42}, "an aborted transaction's offsets were seen"
        producer.commit_transaction(30)
        wait_until_equal(watch.committed, {0: 126}, 30, "the offsets after the aborted ones")
        assert watch.error is None, watch.error
    finally:
        watch.close()
        member.close()
        for future in admin.delete_topics([topic]).values():
            future.result(30)
