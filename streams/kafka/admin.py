"""Topic administration with confluent-kafka's AdminClient (an edge: talks to Kafka)."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from models.errors import ShopstreamError
from models.settings import Settings

log = logging.getLogger(__name__)


def ensure_topics(settings: Settings, bootstrap: str, timeout: float = 30.0,
                  compacted_extra: list[str] | None = None, quiet: bool = False) -> list[str]:
    """Create shopstream's topics (and ``compacted_extra``, a stage's state changelogs) that
    do not exist yet; return the ones created. ``quiet``: the Kafka client logs nothing
    (its failed connections are then the caller's to report)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **({"log_level": 2} if quiet else {})})
    existing = set(admin.list_topics(timeout=timeout).topics)
    compacted = settings.topics.compacted() | set(compacted_extra or [])
    configs: dict[str, dict[str, str]] = {name: {"cleanup.policy": "compact"} for name in compacted}
    # the raw records' timestamps are when the broker took them, whatever a producer sets:
    # the dedupe window and receivedAt read them (a producer's clock a year ahead, or a
    # backfill stamped with its events' times, would otherwise move the window)
    configs[settings.topics.raw] = {"message.timestamp.type": "LogAppendTime"}
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


def topics_for_producing(settings: Settings, bootstrap: str, timeout: float = 10.0) -> None:
    """Before a command sends events: shopstream's topics exist with the configured partition
    count (a topic the broker would create on the first write gets the broker's own count),
    and a broker that does not answer is said plainly rather than retried for ever."""
    try:
        ensure_topics(settings, bootstrap, timeout=timeout, quiet=True)
    except KafkaException as exc:
        raise ShopstreamError(f"the Kafka broker at {bootstrap} did not answer within "
                              f"{timeout:.0f} s ({exc.args[0].str() if exc.args else exc}): "
                              "is it running? (`shopstream broker status`)") from None
