"""The producer SDK: a ``Tracker`` that sends contract events to ``shop.events.raw``.

    from streams.sdk.tracker import Tracker

    with Tracker("localhost:9092") as tracker:
        tracker.product_viewed("u42", {"product_id": "p1", "price": "19.99"})
        tracker.order_completed("u42", {"order_id": "o1", "total": "19.99", "products": [
            {"product_id": "p1", "price": "19.99", "quantity": 1}]})

Idempotent confluent-kafka producer (no duplicates from producer retries),
lz4 compression, linger batching; keyed by device (anonymousId, else userId:
``models.identity``) so one browser's events stay ordered across a login.
``messageId`` and ``timestamp`` are filled in when absent (a flat envelope's id is its
``message_id``, or ``event_id``: ``models.flat``).
Delivery failures are counted and passed to ``on_error``; nothing raises from
the background thread.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from models.ecommerce import EventName
from models.errors import Issue, ShopstreamError
from models.flat import is_flat
from models.identity import raw_device_key
from models.serde import dumps
from models.times import format_time
from models.validation import Rules, validate_obj

log = logging.getLogger(__name__)

ErrorCallback = Callable[[KafkaError, bytes | None], None]


class InvalidEvent(ShopstreamError):
    """Raised by a validating Tracker before an invalid event leaves the process."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        super().__init__("; ".join(f"{i.code} at {i.path or '<event>'}: {i.message}" for i in issues))


def _id_field(body: dict[str, Any]) -> str:
    """Where an event keeps its id: ``messageId``; a flat envelope's (``models.flat``) is
    ``message_id``, or ``event_id`` when only that one is sent."""
    if not is_flat(body):
        return "messageId"
    if body.get("message_id") is None and body.get("event_id") is not None:
        return "event_id"
    return "message_id"


class Tracker:
    """Send events to Kafka. Thread-safe; call :meth:`close` (or use ``with``)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str = "shop.events.raw",
        *,
        tenant: str | None = None,
        validate: bool = False,
        rules: Rules | None = None,
        on_error: ErrorCallback | None = None,
        producer_config: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "client.id": "shopstream-tracker",
        }
        config.update(producer_config or {})
        self._producer = Producer(config)
        self.topic = topic
        self.tenant = tenant
        self.validate = validate
        self.rules = rules or Rules()
        self._on_error = on_error
        self._clock = clock
        self._lock = threading.Lock()
        self.sent = 0
        self.delivered = 0
        self.failed = 0

    # -- generic calls -------------------------------------------------------

    def track(
        self,
        event: str,
        properties: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> str:
        """Send a track event; returns its messageId."""
        return self._send(
            {"type": "track", "event": event, "properties": dict(properties or {})},
            user_id, anonymous_id, context, timestamp, message_id,
        )

    def identify(
        self,
        user_id: str,
        traits: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> str:
        return self._send(
            {"type": "identify", "traits": dict(traits or {})},
            user_id, anonymous_id, context, timestamp, message_id,
        )

    def page(
        self,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        message_id: str | None = None,
    ) -> str:
        body: dict[str, Any] = {"type": "page", "properties": dict(properties or {})}
        if name:
            body["name"] = name
        return self._send(body, user_id, anonymous_id, context, timestamp, message_id)

    # -- typed helpers for the e-commerce spec -------------------------------

    def products_searched(self, user_id: str, query: str, **kw: Any) -> str:
        return self.track(EventName.PRODUCTS_SEARCHED, {"query": query}, user_id=user_id, **kw)

    def product_viewed(self, user_id: str, product: Mapping[str, Any], **kw: Any) -> str:
        return self.track(EventName.PRODUCT_VIEWED, product, user_id=user_id, **kw)

    def product_added(self, user_id: str, product: Mapping[str, Any], cart_id: str, **kw: Any) -> str:
        return self.track(EventName.PRODUCT_ADDED, {**product, "cart_id": cart_id}, user_id=user_id, **kw)

    def product_removed(self, user_id: str, product: Mapping[str, Any], cart_id: str, **kw: Any) -> str:
        return self.track(EventName.PRODUCT_REMOVED, {**product, "cart_id": cart_id}, user_id=user_id, **kw)

    def checkout_started(self, user_id: str, properties: Mapping[str, Any], **kw: Any) -> str:
        return self.track(EventName.CHECKOUT_STARTED, properties, user_id=user_id, **kw)

    def order_completed(self, user_id: str, properties: Mapping[str, Any], **kw: Any) -> str:
        return self.track(EventName.ORDER_COMPLETED, properties, user_id=user_id, **kw)

    def order_refunded(self, user_id: str, properties: Mapping[str, Any], **kw: Any) -> str:
        return self.track(EventName.ORDER_REFUNDED, properties, user_id=user_id, **kw)

    def order_cancelled(self, user_id: str, properties: Mapping[str, Any], **kw: Any) -> str:
        return self.track(EventName.ORDER_CANCELLED, properties, user_id=user_id, **kw)

    def coupon_applied(self, user_id: str, properties: Mapping[str, Any], **kw: Any) -> str:
        return self.track(EventName.COUPON_APPLIED, properties, user_id=user_id, **kw)

    # -- raw access ----------------------------------------------------------

    def send_event(self, event: Mapping[str, Any]) -> str:
        """Send a complete event dict (messageId/timestamp/tenant filled when absent);
        returns the id the stored event will carry."""
        body = dict(event)
        id_field = _id_field(body)
        if body.get(id_field) is None:
            body[id_field] = str(uuid.uuid4())
        body.setdefault("timestamp", format_time(self._clock()))
        if self.tenant and "tenant" not in body:
            body["tenant"] = self.tenant
        if self.validate:
            result = validate_obj(body, self.rules, self._clock())
            if not result.ok:
                raise InvalidEvent(result.issues)
        self.send_raw(dumps(body), raw_device_key(body))
        return str(body[id_field])

    def send_raw(self, value: bytes, key: bytes | None = None) -> None:
        """Send bytes as they are (used by ``shopstream produce`` and the simulator). A record
        the producer refuses outright (larger than the message limit) is counted as failed
        and logged, never raised: the rest of a file still goes."""
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=self._delivered)
                break
            except BufferError:  # local queue full: serve callbacks, then retry
                self._producer.poll(0.1)
            except KafkaException as exc:
                with self._lock:
                    self.sent += 1
                    self.failed += 1
                log.error("not sent to %s (%d bytes with its key): %s", self.topic,
                          len(value) + len(key or b""), exc.args[0])
                return
        with self._lock:
            self.sent += 1
        self._producer.poll(0)

    def _send(
        self,
        body: dict[str, Any],
        user_id: str | None,
        anonymous_id: str | None,
        context: Mapping[str, Any] | None,
        timestamp: datetime | None,
        message_id: str | None,
    ) -> str:
        if user_id is not None:
            body["userId"] = user_id
        if anonymous_id is not None:
            body["anonymousId"] = anonymous_id
        if context:
            body["context"] = dict(context)
        if timestamp is not None:
            body["timestamp"] = format_time(timestamp)
        if message_id is not None:
            body["messageId"] = message_id
        body.setdefault("context", {}).setdefault(
            "library", {"name": "shopstream-tracker", "version": "0.1.0"}
        )
        return self.send_event(body)

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        with self._lock:
            if err is None:
                self.delivered += 1
                return
            self.failed += 1
        log.error("delivery to %s failed: %s", self.topic, err)
        if self._on_error is not None:
            self._on_error(err, msg.value())

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for outstanding deliveries; returns how many are still in flight."""
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 30.0) -> None:
        remaining = self.flush(timeout)
        if remaining:
            log.warning("%d events were still in flight when the tracker closed", remaining)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
