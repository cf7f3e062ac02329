"""API keys as every process sees them: the compacted keys topic, followed by a
:class:`~streams.kafka.follower.TopicFollower`, so a key created or revoked anywhere counts
within about a second, without a restart. Also writes records (``shopstream keys``)."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections import OrderedDict

from confluent_kafka import Consumer, Producer

from models.errors import ShopstreamError
from models.keys import ApiKey, secret_matches, split_key
from streams.kafka.follower import TopicFollower
from streams.kafka.topic_reader import read_partition

log = logging.getLogger(__name__)
_FAILURES_KEPT = 10_000


class KeyStore:
    """The latest record of every key. ``check()`` answers from memory; a key's first use
    costs one scrypt hash (``verify()``, run it off the event loop), later uses a dict look-up
    until its record changes."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self._records: dict[str, ApiKey] = {}
        self._verified: dict[str, ApiKey] = {}  # sha256 of a presented key -> its record
        self._failed: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._follower = TopicFollower(bootstrap, topic, self.apply, "API keys")
        self.loaded = self._follower.loaded

    # -- reading ----------------------------------------------------------------

    def start(self) -> KeyStore:
        self._follower.start()
        return self

    def wait_loaded(self, timeout: float) -> None:
        self._follower.wait_loaded(timeout)

    def stop(self) -> None:
        self._follower.stop()

    @property
    def error(self) -> str | None:
        return self._follower.error

    def failing(self, limit_s: float) -> bool:
        """The keys have not been read for ``limit_s`` (or their reader died)."""
        return self._follower.failing(limit_s)

    def apply(self, key: bytes, value: bytes | None) -> None:
        """One record of the topic (a tombstone removes the key)."""
        key_id = key.decode()
        try:
            record = None if value is None else ApiKey.from_json(value)
        except (ValueError, KeyError) as exc:
            log.warning("API keys: record %s unreadable, ignored: %s", key_id, exc)
            return
        with self._lock:
            if record is None:
                self._records.pop(key_id, None)
            else:
                self._records[key_id] = record
            self._failed.clear()

    def records(self) -> list[ApiKey]:
        with self._lock:
            return sorted(self._records.values(), key=lambda r: (r.tenant, r.created_at))

    def active(self) -> list[ApiKey]:
        return [record for record in self.records() if not record.revoked]

    def check(self, presented: str) -> ApiKey | None | bool:
        """From memory: the key's record when known good, False when known bad (malformed,
        unknown, revoked, or a secret that failed before), None when it needs ``verify()``."""
        parts = split_key(presented)
        if parts is None:
            return False
        digest = hashlib.sha256(presented.encode()).hexdigest()
        with self._lock:
            record = self._records.get(parts[0])
            if record is None or record.revoked or digest in self._failed:
                return False
            if self._verified.get(digest) is record:
                return record
        return None

    def verify(self, presented: str) -> ApiKey | None:
        """The key's active record, or None; costs a scrypt hash (blocking)."""
        known = self.check(presented)
        if known is not None:
            return known if isinstance(known, ApiKey) else None
        parts = split_key(presented)
        assert parts is not None
        with self._lock:
            record = self._records.get(parts[0])
        if record is None:
            return None
        digest = hashlib.sha256(presented.encode()).hexdigest()
        good = secret_matches(record, parts[1])
        with self._lock:
            if good:
                self._verified[digest] = record
            else:
                self._failed[digest] = None
                while len(self._failed) > _FAILURES_KEPT:
                    self._failed.popitem(last=False)
        return record if good else None


# -- writing ---------------------------------------------------------------------


def write_record(bootstrap: str, topic: str, record: ApiKey, timeout: float = 30.0) -> None:
    """Store a key's record (acknowledged by Kafka before this returns)."""
    errors: list[str] = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "acks": "all", "message.timeout.ms": int(timeout * 1000)})
    producer.produce(topic, record.to_json(), record.key_id.encode(),
                     on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
    if producer.flush(timeout + 5) or errors:
        raise ShopstreamError(f"the key record was not stored in {topic}: "
                              f"{errors[0] if errors else 'Kafka did not answer'}")


def read_records(bootstrap: str, topic: str) -> dict[str, ApiKey]:
    """Every key's latest record, read to the end of the topic now."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"keys-{uuid.uuid4()}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    finally:
        consumer.close()
    records: dict[str, ApiKey] = {}
    for partition in partitions:
        for key, value in read_partition(bootstrap, topic, partition).items():
            if value is not None:
                records[key.decode()] = ApiKey.from_json(value)
    return records
