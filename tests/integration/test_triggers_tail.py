"""``shopstream triggers tail --group NAME`` carries on after a restart, on the real broker:
nothing sent while it was stopped is passed over, nothing printed is printed again, also on
partitions it had read nothing from (with ``auto.offset.reset=latest`` alone, those
started at their end on the next run, after the triggers sent in between)."""

from __future__ import annotations

import io

import orjson
from confluent_kafka import Producer

from streams.cli.triggers import tail


def send(bootstrap: str, topic: str, numbers: range) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for n in numbers:  # keys spread them over the topic's 12 partitions
        producer.produce(topic, orjson.dumps({"n": n}), f"user-{n}".encode())
    assert producer.flush(10) == 0


def run(bootstrap: str, topic: str, group: str, **kw) -> list[int]:
    out = io.StringIO()
    kw = {"from_beginning": False, "max_messages": None, "idle_timeout": 4.0, **kw}
    tail(bootstrap, topic, group=group, out=out, **kw)
    return sorted(orjson.loads(line)["n"] for line in out.getvalue().splitlines())


def test_a_named_group_carries_on_where_it_stopped(settings, kafka):
    topic = settings.topics.triggers["cart_abandoned"]
    send(kafka, topic, range(0, 3))  # before the group's first run: not for it
    assert run(kafka, topic, "g1") == []
    send(kafka, topic, range(3, 13))  # while it is stopped, to partitions it never read
    assert run(kafka, topic, "g1") == list(range(3, 13))
    send(kafka, topic, range(13, 19))
    first = run(kafka, topic, "g1", max_messages=2)
    assert len(first) == 2
    rest = run(kafka, topic, "g1")
    assert sorted(first + rest) == list(range(13, 19))  # none twice, none passed over
    # a new group with --from-beginning reads everything, and then carries on too
    assert run(kafka, topic, "g2", from_beginning=True) == list(range(19))
    send(kafka, topic, range(19, 22))
    assert run(kafka, topic, "g2", from_beginning=True) == [19, 20, 21]
