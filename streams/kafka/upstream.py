"""Whether a stage upstream has caught up: a consumer group's committed offsets against the
high watermarks of its input topic (read on demand, cached for a second).

The live stage moves an idle partition's event time on by the wall clock only when the
whole pipeline is idle, that is, when the validation stage has also committed past every
raw event. A replay, or a validation stage that is restarting or starved of CPU, then
never makes the live stage's clock run ahead of the data.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, TopicPartition


class UpstreamProgress:
    def __init__(self, bootstrap: str, topic: str, group: str, every_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.topic, self.every_s, self.clock = topic, every_s, clock
        # only asks the group coordinator for committed offsets: never joins the group
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                  "enable.auto.commit": False})
        self._checked_at = -every_s
        self._caught_up = False

    def caught_up(self) -> bool:
        """Whether the group has committed past every record of the topic (False when
        Kafka cannot say: no wall-clock advance on a guess)."""
        now = self.clock()
        if now - self._checked_at < self.every_s:
            return self._caught_up
        self._checked_at = now
        try:
            metadata = self.consumer.list_topics(self.topic, timeout=2)
            partitions = [TopicPartition(self.topic, p)
                          for p in metadata.topics[self.topic].partitions]
            committed = self.consumer.committed(partitions, timeout=2)
            ends = [self.consumer.get_watermark_offsets(tp, timeout=2)[1] for tp in committed]
            self._caught_up = all(end == 0 or tp.offset >= end
                                  for tp, end in zip(committed, ends, strict=True))
        except KafkaException:
            self._caught_up = False
        return self._caught_up

    def close(self) -> None:
        self.consumer.close()
