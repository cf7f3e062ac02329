"""How many members a consumer group can use: one per partition (pure).

Each stage of a worker is a member of its stage's consumer group; a partition is read by
one member at a time, so workers beyond the partition count own nothing and sit idle.
Used by ``shopstream capacity`` and by the manifests' check (``python -m deploy.validate``).
"""

from __future__ import annotations


def replica_warnings(replicas: int, partitions: int, what: str = "workers") -> list[str]:
    """A warning when ``replicas`` members of one consumer group would outnumber the
    partitions: the extra ones get no partition and sit idle."""
    if replicas <= partitions:
        return []
    return [f"{replicas} {what} for {partitions} partitions: {replicas - partitions} would own "
            f"no partition and sit idle; cap the replicas at {partitions}, or create the topics "
            "with more partitions in a new deployment (adding partitions moves shoppers and "
            "their live state)"]
