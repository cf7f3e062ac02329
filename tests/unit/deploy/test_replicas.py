"""Workers beyond the partition count are warned about."""

from __future__ import annotations

from deploy.replicas import replica_warnings


def test_replicas_up_to_the_partitions_are_fine():
    assert replica_warnings(1, 12) == replica_warnings(12, 12) == []


def test_replicas_beyond_the_partitions_are_warned_about():
    (warning,) = replica_warnings(13, 12, "worker replicas")
    assert warning.startswith("13 worker replicas for 12 partitions: 1 would own no partition")
    assert "cap the replicas at 12" in warning
