"""Writing an event's effects in its source partition's Kafka transaction, together.

With ``processing_guarantee="exactly_once"`` Faust keeps one transactional
producer per source partition, commits that partition's offsets in it, and
commits on its own schedule, even between two sends made for the same event.
Faust would also pick a *destination* partition's transaction for a plain
``topic.send`` to a topic the app does not consume, i.e. no transaction at all.

:class:`EffectWriter` sends every record an event causes (its output and its
dedupe-table changelog entry) on the source partition's transactional producer
while holding that transaction's lock, the same lock Faust's commit takes. So
an event's records are all in one transaction: a crash either keeps them all
or aborts them all, and the dedupe entry then tells a replayed event apart
from a new one. The attribute names used here are Faust's own; the SIGKILL
tests fail if a Faust upgrade changes them.
"""

from __future__ import annotations

from typing import Any

import faust

from streams.kafka.records import Record


class EffectWriter:
    def __init__(self, app: faust.App) -> None:
        self.app = app

    @property
    def transactional(self) -> bool:
        return bool(self.app.in_transaction)

    async def write(self, event: faust.EventT, records: list[Record]) -> None:
        if not self.transactional:
            for record in records:
                await self.app.producer.send(record.topic, record.key, record.value,
                                             record.partition, None, None)
            return
        source = event.message
        group = self.app.assignor.group_for_topic(source.topic)
        transactional_id = f"{self.app.conf.id}-{group}-{source.partition}"
        driver: Any = self.app.consumer.transactions.producer
        producer = driver._transaction_producers[transactional_id]
        async with driver._trn_locks[transactional_id]:
            for record in records:
                await producer.send(record.topic, record.value, key=record.key,
                                    partition=record.partition)
