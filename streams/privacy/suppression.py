"""The suppression list: a compacted topic (``shop.privacy.erased``) keyed by the hash of a
tenant and one of an erased person's ids (:func:`models.erasure.identity_hash`; never the id
itself), followed by every process that needs it with a
:class:`~streams.kafka.follower.TopicFollower`.

The validation stage drops the events of erased ids (:meth:`SuppressionList.drops`, counted
in ``shopstream_erased_events_total``; not dead-lettered, since dead letters keep the raw
bytes), so a replay of old raw data does not bring a person back. The live stage hears of
each new erasure (:meth:`SuppressionList.listen`) and forgets the person's state. The
worker's ClickHouse sink leaves out canonical events of erased ids still on (or re-read
from) ``shop.events``, and ``/recommendations`` answers an erased id as a shopper never
seen (both through :meth:`SuppressionList.erased`, injected). Also writes the list
(``shopstream privacy erase``) and tombstones on compacted topics."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import Producer
from prometheus_client import Counter

from models.erasure import identity_hash
from models.errors import ShopstreamError
from models.settings import Settings
from streams.kafka.admin import topics_for_producing
from streams.kafka.discovery import configured_bootstrap
from streams.kafka.follower import TopicFollower
from streams.monitoring import metrics

log = logging.getLogger(__name__)
LOAD_TIMEOUT_S = 120.0

ERASED_EVENTS = Counter(
    "shopstream_erased_events_total", "Events of erased people dropped by the validation stage "
    "(the suppression list; not dead-lettered)", registry=metrics.VALIDATION_REGISTRY,
)


class SuppressionList:
    """The hashes of erased ids, kept current from the topic. ``key`` is the hash key
    (``SHOPSTREAM_PII_HASH_KEY``): every process must use the one the erasure used."""

    def __init__(self, bootstrap: str, topic: str, key: bytes = b"") -> None:
        self.key = key
        self._hashes: set[str] = set()
        self._listeners: list[Callable[[str], None]] = []
        self._lock = threading.Lock()
        self._follower = TopicFollower(bootstrap, topic, self.apply, "erasure list")

    def start(self) -> SuppressionList:
        self._follower.start()
        return self

    def wait_loaded(self, timeout: float = LOAD_TIMEOUT_S) -> SuppressionList:
        self._follower.wait_loaded(timeout)
        return self

    def stop(self) -> None:
        self._follower.stop()

    def apply(self, key: bytes, value: bytes | None) -> None:
        """One record of the topic: an erased id's hash (a tombstone lifts it)."""
        digest = key.decode(errors="replace")
        with self._lock:
            if value is None:
                self._hashes.discard(digest)
                return
            new = digest not in self._hashes
            self._hashes.add(digest)
            listeners = list(self._listeners) if new else []
        for listener in listeners:
            listener(digest)

    def listen(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(hash)`` for every id erased from now on (on the follower's thread)."""
        with self._lock:
            self._listeners.append(listener)

    def __len__(self) -> int:
        return len(self._hashes)

    def erased(self, tenant: str, identity: str | None) -> bool:
        """Whether ``identity`` of ``tenant`` was erased (the check the live stage, the
        ClickHouse sink and ``/recommendations`` are given)."""
        if not self._hashes or not identity:  # the common case: nobody erased, nothing hashed
            return False
        return identity_hash(tenant, str(identity), self.key) in self._hashes

    def erased_event(self, event: Mapping[str, Any]) -> bool:
        """Whether a canonical event (its dict) carries an erased id (user, anonymous or
        previous id)."""
        if not self._hashes:  # the common case: nobody erased, nothing hashed
            return False
        get = event.get
        return any(self.erased(event["tenant"], i)
                   for i in (get("userId"), get("anonymousId"), get("previousId")))

    def drops(self, event: Mapping[str, Any]) -> bool:
        """The validation stage's check: an erased person's event is dropped (and counted)."""
        if self.erased_event(event):
            ERASED_EVENTS.inc()
            return True
        return False


def followed(settings: Settings, bootstrap: str,
             timeout: float = LOAD_TIMEOUT_S) -> SuppressionList:
    """The suppression list, read to its end before this returns (a stage that started
    without it would let an erased person's replayed events through)."""
    return SuppressionList(bootstrap, settings.topics.erased,
                           (settings.pii_hash_key or "").encode()).start().wait_loaded(timeout)


def erasures_recorded(client: Any) -> int:
    """How many erasures this database has run (their audit rows in ``privacy_requests``)."""
    return int(client.query(
        "SELECT count() FROM privacy_requests WHERE action = 'erase'").result_rows[0][0])


def followed_for_backfill(settings: Settings, client: Any,
                          timeout: float = 30.0) -> Callable[[Mapping[str, Any]], bool] | None:
    """What ``shopstream ingest`` checks each event with: the suppression list, followed from
    Kafka (it holds every id of each erased person; the database's audit rows hold only the
    user id's hash) whenever a broker is configured, so that a backfill into a new or
    restored database keeps them out too. Without a broker: None while this database never
    ran an erasure (a backfill then needs no Kafka), else a ShopstreamError saying why, as
    the file would bring the people back."""
    bootstrap = configured_bootstrap(settings)
    if bootstrap is not None:
        # a broker no shopstream process has used yet has no erasure topic: nobody was
        # erased, and the topic is made as a worker would make it, rather than waited for
        topics_for_producing(settings, bootstrap)
        return followed(settings, bootstrap, timeout).erased_event
    erasures = erasures_recorded(client)
    if erasures:
        raise ShopstreamError(
            f"this database has run {erasures} erasure(s), and only the suppression list on "
            "Kafka names every id of the people erased: set KAFKA_BOOTSTRAP (or `shopstream "
            "broker start`) so that this file cannot bring them back")
    return None


def produce(bootstrap: str, records: Iterable[tuple[str, str, bytes | None]],
            timeout: float = 30.0) -> int:
    """Write ``(topic, key, value)`` records (value None: a tombstone), acknowledged by Kafka
    before this returns; the count written."""
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "acks": "all", "message.timeout.ms": int(timeout * 1000)})
    count = 0
    for topic, key, value in records:
        producer.produce(topic, value, key.encode(),
                         on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
        count += 1
    if producer.flush(timeout + 5) or errors:
        raise ShopstreamError(f"Kafka did not store the erasure records: "
                              f"{errors[0] if errors else 'no answer'}")
    return count
