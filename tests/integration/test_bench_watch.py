"""The benchmark's watch on a stage's committed offsets (``tests/benchmarks/kafka_io.py``)
reads what its latency and throughput figures rest on: a consumer group's offsets that
travelled in a transaction count only once that transaction committed. Checked on the real
broker: offsets sent in an open transaction are not seen (and the read does not fail while
they are pending), an aborted transaction's are never seen, a committed one's are."""

from __future__ import annotations

import uuid

from confluent_kafka.admin import AdminClient, NewTopic

from tests.benchmarks.kafka_io import GroupProgress
from tests.support import GroupTransactions, wait_until_equal


def test_the_watch_sees_a_transactions_offsets_only_once_it_committed(kafka: str) -> None:
    topic = f"watch-{uuid.uuid4().hex[:8]}"
    group = f"{topic}-stage"
    admin = AdminClient({"bootstrap.servers": kafka})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    stage = GroupTransactions(kafka, group, topic, out=topic)
    watch = GroupProgress(kafka, group, topic)
    try:
        stage.open(42)
        pending = watch.committed()
        assert pending.get(0, -1) < 0 and watch.error is None, (pending, watch.error)
        stage.commit()
        # (the commit returns before the markers are written: the offsets show soon after)
        wait_until_equal(watch.committed, {0: 42}, 30, "the committed transaction's offsets")
        assert watch.error is None, watch.error

        stage.open(84)
        assert watch.committed() == {0: 42}, "a pending transaction's offsets were seen"
        stage.abort()
        # the next transaction can add offsets only once the abort's markers are written, so
        # from then on the aborted offsets would show if they ever were going to
        stage.open(126)
        assert watch.committed() == {0: 42}, "an aborted transaction's offsets were seen"
        stage.commit()
        wait_until_equal(watch.committed, {0: 126}, 30, "the offsets after the aborted ones")
        assert watch.error is None, watch.error
    finally:
        watch.close()
        stage.close()
        for future in admin.delete_topics([topic]).values():
            future.result(30)
