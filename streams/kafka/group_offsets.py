"""A client that reads a consumer group's committed offsets from outside the group: the live
stage's check on the validation stage (``streams/kafka/upstream.py``), and the tests' and
benchmarks' watches on a stage's progress.

Stages commit their offsets inside their transactions. A ``read_committed`` client asks the
broker for *stable* offsets (``require_stable``), and while the group has offsets in an open
transaction (under load, nearly always) the broker refuses with ``UNSTABLE_OFFSET_COMMIT``;
the client retries after a backoff until its timeout. Without ``require_stable`` the broker
answers at once, with the offsets of committed transactions only, never an open or aborted
one's (``tests/integration/test_bench_watch.py``, ``tests/integration/test_upstream.py``).
Such a client's watermarks are high watermarks: a record in an open transaction counts as
not yet read.
"""

from __future__ import annotations

from confluent_kafka import Consumer


def offsets_reader(bootstrap: str, group: str) -> Consumer:
    """A consumer that asks for ``group``'s committed offsets and never joins the group."""
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
