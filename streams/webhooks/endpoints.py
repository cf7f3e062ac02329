"""Webhook endpoints and where they live: the compacted topic ``shop.webhooks``.

Every worker process must see the same endpoints, and the embedded ClickHouse belongs to
one process, so the configuration is a compacted Kafka topic with one partition: key =
endpoint id, value = the endpoint as JSON, a tombstone when it is removed. Writers
(``shopstream webhooks add|remove``) produce with ``acks=all``; every worker reads the
topic from its start and follows it (:class:`EndpointFollower`), so a change reaches all
of them within a second or so, and compaction keeps the topic as small as the set of
endpoints. The signing secrets are in it: restrict who may read the topic (Kafka ACLs).

A new endpoint's consumer group gets its starting offsets when it is added: the first
trigger stamped at or after that moment (or the oldest one kept, ``--from-beginning``).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from models.errors import ShopstreamError
from models.settings import TRIGGER_KINDS, Settings
from streams.app import faust_app_id
from streams.kafka.admin import topics_for_producing
from streams.kafka.retrying import DEADLINE_S, partitions_of, retrying, watermarks

GENERATED_PREFIX = "whsec_"  # a secret shopstream made (webhooks add without --secret)
_GENERATED = re.compile(rf"{GENERATED_PREFIX}[0-9a-f]{{48}}")  # its whole shape


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    types: tuple[str, ...]
    secret: str
    created_at_ms: int

    def to_json(self) -> bytes:
        return orjson.dumps({**asdict(self), "types": list(self.types)})

    @classmethod
    def from_json(cls, data: bytes) -> Endpoint:
        raw = orjson.loads(data)
        return cls(str(raw["id"]), str(raw["url"]), tuple(raw["types"]), str(raw["secret"]),
                   int(raw["created_at_ms"]))

    def masked_secret(self) -> str:
        """Enough to tell secrets apart, never enough to guess one: a generated secret's
        ``whsec_`` and its last 4 characters; a chosen one's last 4, from 16 characters on
        (a quarter at most); a shorter one, nothing."""
        prefix = GENERATED_PREFIX if _GENERATED.fullmatch(self.secret) else ""
        return f"{prefix}...{self.secret[-4:]}" if len(self.secret) >= 16 else "***"


def parse_types(text: str) -> tuple[str, ...]:
    """``cart_abandoned,winback`` (or ``all``) -> the trigger types; ShopstreamError else."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return TRIGGER_KINDS
    unknown = [t for t in names if t not in TRIGGER_KINDS]
    if unknown or not names:
        raise ShopstreamError(f"unknown trigger type(s) {', '.join(unknown) or '(none given)'}; "
                              f"choose from {', '.join(TRIGGER_KINDS)}, or all")
    return tuple(dict.fromkeys(names))


def check_url(url: str) -> str:
    """The URL as given, when urllib can POST to it: http(s), a host, a port in 1-65535 when
    one is given, no user:password@ (urllib would not send it, and would take it for the
    host), and printable ASCII only (spaces, control characters and other text urllib
    refuses or cannot send: percent-encode them, and give a host name in its xn-- form)."""
    shape = f"a webhook URL is http(s)://host[:port]/path, not {url!r}"
    if not url.isascii() or any(ord(c) <= 0x20 or c == "\x7f" for c in url):
        raise ShopstreamError(f"{shape}: spaces, control characters and non-ASCII text are "
                              "not allowed (percent-encode them; a host name in its xn-- form)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # an unclosed [IPv6 address, a port that is no number or > 65535
        why = "a port is a number from 1 to 65535" if "Port" in str(exc) else str(exc)
        raise ShopstreamError(f"{shape}: {why}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ShopstreamError(shape)
    if port == 0:
        raise ShopstreamError(f"{shape}: a port is a number from 1 to 65535")
    if "@" in parts.netloc:
        raise ShopstreamError(f"{shape}: no user or password in it (they would not be sent)")
    return url


def new_endpoint(url: str, types: str, secret: str | None, now_ms: int) -> Endpoint:
    """A new endpoint with a fresh id, and a generated signing secret when none is given."""
    if secret is not None and len(secret) < 8:
        raise ShopstreamError("a webhook secret has at least 8 characters")
    return Endpoint(f"wh_{secrets.token_hex(4)}", check_url(url), parse_types(types),
                    secret or f"{GENERATED_PREFIX}{secrets.token_hex(24)}", now_ms)


def endpoint_group(settings: Settings, endpoint_id: str) -> str:
    """The consumer group that delivers to one endpoint (its committed offsets are what the
    endpoint acknowledged)."""
    return f"{faust_app_id(settings)}-webhook-{endpoint_id}"


def ensure_webhook_topics(settings: Settings, bootstrap: str, timeout: float = 30.0) -> None:
    """The endpoint topic (compacted, one partition) and the deliveries' dead-letter topic."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = settings.topics
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [NewTopic(name, partitions, settings.topic_replication, config=config)
              for name, partitions, config in (
                  (topics.webhooks, 1, {"cleanup.policy": "compact"}),
                  (topics.webhooks_dlq, settings.topic_partitions, {}))
              if name not in existing]
    for name, future in (admin.create_topics(wanted, operation_timeout=timeout).items()
                         if wanted else []):
        try:
            future.result(timeout)
        except KafkaException as exc:
            if not (exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise ShopstreamError(f"cannot create {name}: {exc}") from exc


class EndpointStore:
    """Writes and reads the endpoint topic (the CLI's side). Needs only the broker: on a
    fresh one (no worker has run yet) it creates shopstream's topics first, the trigger
    topics a new endpoint's starting offsets are read from included."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings, self.bootstrap = settings, bootstrap
        self.topic = settings.topics.webhooks
        topics_for_producing(settings, bootstrap)
        ensure_webhook_topics(settings, bootstrap)

    def _produce(self, key: str, value: bytes | None) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                             "enable.idempotence": True})
        failures: list[Any] = []
        producer.produce(self.topic, value, key.encode(),
                         on_delivery=lambda err, _msg: failures.append(err) if err else None)
        if producer.flush(30) > 0 or failures:
            raise ShopstreamError(f"could not write to {self.topic}: "
                                  f"{failures[0] if failures else 'timed out'}")

    def put(self, endpoint: Endpoint) -> None:
        self._produce(endpoint.id, endpoint.to_json())

    def remove(self, endpoint_id: str) -> None:
        if endpoint_id not in self.all():
            raise ShopstreamError(f"no webhook endpoint {endpoint_id!r} "
                                  "(`shopstream webhooks list` shows them)")
        self._produce(endpoint_id, None)

    def all(self) -> dict[str, Endpoint]:
        follower = EndpointFollower(self.bootstrap, self.topic)
        try:
            return follower.read_to_end()
        finally:
            follower.close()

    def start_group_at(self, endpoint: Endpoint, from_beginning: bool) -> None:
        """Commit the new endpoint's starting offsets: the first trigger stamped at or after
        its creation on every partition of its topics (nothing: from the oldest kept)."""
        if from_beginning:
            return
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "enable.auto.commit": False,
                             "group.id": endpoint_group(self.settings, endpoint.id)})
        bootstrap = self.bootstrap
        try:
            wanted = []
            for kind in endpoint.types:  # (partitions_of: at least one, each with a leader)
                topic = self.settings.topics.triggers[kind]
                wanted += [TopicPartition(topic, p, endpoint.created_at_ms)
                           for p in partitions_of(consumer, topic, bootstrap)]
            found = retrying(lambda t: consumer.offsets_for_times(wanted, timeout=t),
                             "with the offsets at the endpoint's creation", bootstrap)
            starts = []
            for tp in found:  # -1: nothing stamped that late yet, so the partition's end
                offset = tp.offset
                if offset < 0:
                    offset = watermarks(consumer, tp, bootstrap)[1]
                starts.append(TopicPartition(tp.topic, tp.partition, offset))
            retrying(lambda _t: consumer.commit(offsets=starts, asynchronous=False),
                     "to the commit of the endpoint's starting offsets", bootstrap)
        finally:
            consumer.close()


class EndpointFollower:
    """The endpoint topic read from its start and followed (a worker's side): call
    :meth:`poll` often; it returns the endpoints as of the latest record read."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.endpoints: dict[str, Endpoint] = {}
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                                  "enable.auto.commit": False, "isolation.level": "read_committed",
                                  "enable.partition.eof": True})
        self.consumer.assign([TopicPartition(topic, 0, 0)])

    def poll(self, timeout: float = 0.5) -> dict[str, Endpoint]:
        for message in self.consumer.consume(1000, timeout=timeout):
            if message.error() is not None or message.key() is None:
                continue
            key = bytes(message.key() or b"").decode()
            value = message.value()
            if value is None:
                self.endpoints.pop(key, None)
                continue
            try:
                self.endpoints[key] = Endpoint.from_json(value)
            except (ValueError, KeyError, TypeError):
                continue  # not an endpoint this version can read: left alone
        return dict(self.endpoints)

    def read_to_end(self, timeout: float | None = None) -> dict[str, Endpoint]:
        """Every endpoint up to the topic's current end, within ``timeout`` s (default
        :data:`~streams.kafka.retrying.DEADLINE_S`). Its end is asked again while the topic's
        leader is not known yet (a topic created a moment ago)."""
        tp = TopicPartition(self.topic, 0)
        low, high = watermarks(self.consumer, tp, self.bootstrap, timeout)
        if high <= low:
            return dict(self.endpoints)
        timeout = DEADLINE_S if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while self.consumer.position([tp])[0].offset < high:
            if time.monotonic() > deadline:
                raise ShopstreamError(f"could not read {self.topic} within {timeout:.0f}s")
            self.poll(0.2)
        return dict(self.endpoints)

    def close(self) -> None:
        self.consumer.close()
