"""Topic administration with confluent-kafka's AdminClient (an edge: talks to Kafka)."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from models.settings import Settings

log = logging.getLogger(__name__)


def ensure_topics(settings: Settings, bootstrap: str, timeout: float = 30.0,
                  compacted_extra: list[str] | None = None) -> list[str]:
    """Create shopstream's topics (and ``compacted_extra``, a stage's state changelogs) that
    do not exist yet; return the ones created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout).topics)
    compacted = settings.topics.compacted() | set(compacted_extra or [])
    configs = {name: {"cleanup.policy": "compact"} for name in compacted}
    wanted = [
        NewTopic(name, settings.topic_partitions, settings.topic_replication,
                 config=configs.get(name, {}))
        for name in [*settings.topics.all(), *sorted(compacted_extra or [])]
        if name not in existing
    ]
    if not wanted:
        return []
    futures = admin.create_topics(wanted, operation_timeout=timeout)
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == 36:  # TOPIC_ALREADY_EXISTS: a race, fine
                continue
            raise
    log.info("created topics %s", created)
    return created
