"""Whether a stage upstream has caught up: a consumer group's committed offsets against the
high watermarks of its input topic, checked every second by a thread of its own.

The live stage moves an idle partition's event time on by the wall clock only when the
whole pipeline is idle, that is, when the validation stage has also committed past every
raw event. A replay, or a validation stage that is restarting or starved of CPU, then
never makes the live stage's clock run ahead of the data.

The check costs a dozen round trips to the broker; asked on the stage's own thread, it held
the stage (and the events waiting for its next commit) for about 0.1 s every second.
"""

from __future__ import annotations

import threading

from confluent_kafka import KafkaException, TopicPartition

from streams.kafka.group_offsets import offsets_reader


class UpstreamProgress:
    def __init__(self, bootstrap: str, topic: str, group: str, every_s: float = 1.0) -> None:
        self.topic, self.every_s = topic, every_s
        # the committed offsets against the high watermarks: a raw record in an open
        # transaction counts as not yet validated
        self.consumer = offsets_reader(bootstrap, group)
        self._caught_up = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def caught_up(self) -> bool:
        """Whether the group had committed past every record of the topic at the last check
        (at most ``every_s`` ago; False when Kafka could not say: no wall-clock advance on a
        guess). Never waits for the broker."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="upstream", daemon=True)
            self._thread.start()
        return self._caught_up

    def _follow(self) -> None:
        while not self._stop.is_set():
            self._caught_up = self.check()
            self._stop.wait(self.every_s)

    def check(self) -> bool:
        """Ask the broker now."""
        try:
            metadata = self.consumer.list_topics(self.topic, timeout=2)
            partitions = [TopicPartition(self.topic, p)
                          for p in metadata.topics[self.topic].partitions]
            committed = self.consumer.committed(partitions, timeout=2)
            ends = [self.consumer.get_watermark_offsets(tp, timeout=2)[1] for tp in committed]
            return all(end == 0 or tp.offset >= end
                       for tp, end in zip(committed, ends, strict=True))
        except KafkaException:
            return False

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.consumer.close()
