"""The live stage's check that the validation stage has caught up
(``streams/kafka/upstream.py``), on the real broker: it answers from the offsets the group
has committed, and a transaction of that group still open (the validation stage commits one
every 100 ms under load) neither fails the check nor counts before it commits."""

from __future__ import annotations

import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streams.kafka.upstream import UpstreamProgress
from tests.support import GroupTransactions, wait_until_equal


def test_caught_up_from_committed_offsets_while_a_transaction_is_open(kafka: str) -> None:
    topic, out = f"upstream-{uuid.uuid4().hex[:8]}", f"upstream-out-{uuid.uuid4().hex[:8]}"
    group = f"{topic}-validate"
    admin = AdminClient({"bootstrap.servers": kafka})
    for future in admin.create_topics([NewTopic(topic, 1, 1), NewTopic(out, 1, 1)]).values():
        future.result(30)
    plain = Producer({"bootstrap.servers": kafka})
    plain.produce(topic, b"raw event")  # offset 0: the input holds one record
    assert plain.flush(30) == 0
    stage = GroupTransactions(kafka, group, topic, out)
    upstream = UpstreamProgress(kafka, topic, group)
    try:
        stage.open(1)
        assert upstream.check() is False, "offsets of an open transaction counted"
        stage.commit()
        # (the commit returns before the markers are written: the offsets show soon after)
        wait_until_equal(upstream.check, True, 30, "caught up once the transaction committed")

        stage.open(1)  # the next transaction is open: what was committed still holds
        assert upstream.check() is True, "an open transaction hid the committed offsets"
        stage.commit()

        plain.produce(topic, b"another raw event")
        assert plain.flush(30) == 0
        assert upstream.check() is False, "caught up with a record not yet validated"
    finally:
        upstream.close()
        stage.close()
        for future in admin.delete_topics([topic, out]).values():
            future.result(30)
