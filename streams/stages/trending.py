"""The trending stage: scores kept by product, complete with any number of workers.

The live stage sends the scoring events' weights to ``shop.trending.updates``, keyed by
``<tenant>|<product>`` (a repartition topic, in the live stage's transaction; the weights a
product gets between two commits coalesced into one update, ``TrendBuffer``). This stage
consumes it with the transactional loop: each partition's :class:`Trending` book holds
the decayed scores of the products hashed to it, persisted in the compacted
``<app>-trending-changelog`` (writes coalesced per key until the commit). Every
``SHOPSTREAM_TRENDING_PUBLISH_S`` each partition publishes its top products per scope to
the compacted ``shop.trending.partials`` (keyed ``<tenant>|<scope>|<partition>``), in its
transaction. Every worker reads all of ``shop.trending.partials`` (:class:`TrendingBoard`)
and merges the partial lists into the exact overall top-N for ``/trending``; the worker
that owns partition 0 of the updates publishes the merged lists to ``shop.trending``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from models.deadletters import dead_letter, dead_letter_key
from models.errors import Code, Issue
from models.serde import dumps
from models.settings import Settings
from models.times import ms_to_datetime
from streams.app import faust_app_id
from streams.kafka.records import Consumed, Record
from streams.kafka.topic_reader import read_partition
from streams.kafka.transactional import TransactionalLoop
from streams.kafka.write_back import WriteBackCache
from streams.live.clock import wall_ms
from streams.live.events import TrendUpdate
from streams.live.trending import Trending, TrendWeights, merge_partials, partial_tops
from streams.monitoring.health import StageHealth
from streams.stages.loop_config import stage_loop

log = logging.getLogger(__name__)
PRUNE_EVERY_MS = 30_000


def trending_changelog(settings: Settings) -> str:
    return f"{faust_app_id(settings)}-trending-changelog"


class TrendingProcessor:
    """One worker's share of the products: decides per update (pure book arithmetic),
    prunes what decayed below the floor, and publishes its partitions' top lists."""

    def __init__(self, settings: Settings,
                 read_committed: Callable[[int], dict[bytes, bytes | None]],
                 clock: Callable[[], int] = wall_ms) -> None:
        self.topics, self.clock, self.read_committed = settings.topics, clock, read_committed
        self.changelog = trending_changelog(settings)
        self.half_life_ms = settings.trending_half_life_h * 3_600_000
        self.floor, self.top_n = settings.trending_floor, settings.trending_top_n
        self.publish_ms = int(settings.trending_publish_s * 1000)
        self.books: dict[int, Trending] = {}
        self.event_ms: dict[int, int] = {}     # latest update time per partition
        self.cache = WriteBackCache(self.changelog)
        self.published: dict[int, set[tuple[str, str]]] = {}
        self.changed: set[int] = set()
        self.last_publish = 0
        self.last_prune = 0

    def _book(self) -> Trending:
        return Trending(self.half_life_ms, TrendWeights(), self.floor)

    def assigned(self, partitions: list[int]) -> None:
        for partition in partitions:
            book = self._book()
            for key, value in self.read_committed(partition).items():
                if value is not None:
                    book.restore(orjson.loads(key), orjson.loads(value))
            self.books[partition] = book
            self.event_ms[partition] = max((s.ref for s in book.scores.values()), default=0)
            self.published[partition] = set()
            self.changed.add(partition)

    def revoked(self, partitions: list[int]) -> None:
        for partition in partitions:
            self.books.pop(partition, None)
            self.event_ms.pop(partition, None)
            self.cache.drop(partition)
            self.published.pop(partition, None)
            self.changed.discard(partition)

    def handle(self, record: Consumed) -> list[Record]:
        book = self.books.get(record.partition)
        if book is None:
            return []
        try:
            update = TrendUpdate.from_json(orjson.loads(record.value or b""))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            letter = dead_letter(record.value or b"", [Issue(Code.VALUE_INVALID, "",
                                 f"not a trending update: {exc}")], topic=record.topic,
                                 partition=record.partition, offset=record.offset,
                                 key=record.key, failed_at=ms_to_datetime(self.clock()),
                                 stage="trending")
            return [Record(self.topics.dlq, dead_letter_key(record.key), letter)]
        effects = book.apply(update)
        self.cache.update(record.partition, effects.writes)
        self.event_ms[record.partition] = max(self.event_ms.get(record.partition, 0), update.ts)
        self.changed.add(record.partition)
        return []

    def tick(self, caught_up: set[int]) -> list[Record]:
        now = self.clock()
        if now - self.last_prune >= PRUNE_EVERY_MS:
            self.last_prune = now
            for partition, book in self.books.items():
                pruned = book.prune(self.event_ms.get(partition, 0))
                if pruned.writes:
                    self.cache.update(partition, pruned.writes)
                    self.changed.add(partition)
        if now - self.last_publish < self.publish_ms:
            return []
        self.last_publish = now
        out: list[Record] = []
        for partition in sorted(self.changed):
            owned = self.books.get(partition)
            if owned is None:
                continue
            tops = partial_tops(owned, self.top_n)
            gone = self.published.get(partition, set()) - set(tops)
            for (tenant, scope), items in [*tops.items(), *((key, []) for key in sorted(gone))]:
                out.append(Record(self.topics.trending_partials,
                                  f"{tenant}|{scope}|{partition}".encode(),
                                  dumps({"tenant": tenant, "scope": scope, "partition": partition,
                                         "items": items})))
            self.published[partition] = set(tops)
        self.changed.clear()
        return out

    def pending(self) -> bool:
        return self.cache.pending()

    def flush(self) -> list[Record]:
        return self.cache.flush()

    def committed(self) -> None:
        pass


def trending_loop(settings: Settings, bootstrap: str, health: StageHealth) -> TransactionalLoop:
    changelog = trending_changelog(settings)
    processor = TrendingProcessor(
        settings, lambda partition: read_partition(bootstrap, changelog, partition))
    return TransactionalLoop(stage_loop(
        settings, bootstrap, settings.topics.trending_updates, "trending", tick_interval_s=1.0,
    ), processor, health)


class TrendingBoard:
    """Every partition's top lists, read from ``shop.trending.partials`` (committed records,
    latest per key), merged on demand. Run :meth:`run` in a thread."""

    def __init__(self, settings: Settings, bootstrap: str, health: StageHealth) -> None:
        self.topic = settings.topics.trending_partials
        self.half_life_ms = settings.trending_half_life_h * 3_600_000
        self.bootstrap, self.health = bootstrap, health
        self.group = f"{faust_app_id(settings)}-trending-board-{settings.instance_id}"
        self.entries: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                             "enable.auto.commit": False, "isolation.level": "read_committed",
                             "auto.offset.reset": "earliest", "enable.partition.eof": True})
        try:
            partitions = self._partitions(consumer)
            consumer.assign([TopicPartition(self.topic, p, 0) for p in partitions])
            self.health.assigned(partitions)
            self.health.running()
            self.health.restoring()  # (/ready) until every partition has been read to its end
            unread = set(partitions)
            while not self._stop.is_set():
                messages = consumer.consume(500, 0.2)
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            self.health.warn(str(error))
                        elif unread:
                            unread.discard(message.partition())
                            if not unread:
                                self.health.running()
                        continue
                    self._take(message.value())
                if messages:
                    self.health.progressed(len(messages))
            self.health.stopped()
        except KafkaException as exc:
            self.health.failed(str(exc))
            raise
        finally:
            consumer.close()

    def _partitions(self, consumer: Consumer) -> list[int]:
        """The topic's partitions, asked again (blocked meanwhile) while the topic answers
        with an error or none: assigning none would read nothing, for good."""
        while True:
            try:
                topic = consumer.list_topics(self.topic, timeout=30).topics.get(self.topic)
            except KafkaException as exc:  # no answer from the broker (yet)
                topic, why = None, str(exc)
            else:
                if topic is not None and topic.error is None and topic.partitions:
                    self.health.unblocked()
                    return sorted(topic.partitions)
                why = "unknown" if topic is None else str(topic.error or "no partitions")
            if self._stop.is_set():
                return []
            self.health.blocked(f"topic {self.topic}: {why}")
            time.sleep(0.5)

    def _take(self, value: bytes | None) -> None:
        try:
            entry = orjson.loads(value or b"")
            key = (str(entry["tenant"]), str(entry["scope"]), int(entry["partition"]))
            items = list(entry["items"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self.health.warn(f"not a trending list: {exc}")
            return
        with self._lock:
            if items:
                self.entries[key] = items
            else:
                self.entries.pop(key, None)

    def tenants(self) -> set[str]:
        with self._lock:
            return {tenant for tenant, _scope, _p in self.entries}

    def categories(self, tenant: str) -> set[str]:
        """Top-level categories with trending products."""
        with self._lock:
            return {scope.split(":", 1)[1] for t, scope, _p in self.entries
                    if t == tenant and scope.startswith("category:") and "." not in scope}

    def latest(self) -> int:
        with self._lock:
            return max((item["ref"] for items in self.entries.values() for item in items),
                       default=0)

    def top(self, tenant: str, n: int, category: str | None, now_ms: int) -> list[dict[str, Any]]:
        scope = f"category:{category}" if category else "all"
        with self._lock:
            partials = [items for (t, s, _p), items in self.entries.items()
                        if t == tenant and s == scope]
        return merge_partials(partials, now_ms, self.half_life_ms, n)
