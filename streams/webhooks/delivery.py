"""Delivering one endpoint's triggers: consume, POST (signed), retry, commit, dead-letter.

One consumer group per endpoint (:func:`~streams.webhooks.endpoints.endpoint_group`)
reads the trigger topics of its types with ``read_committed``; its partitions spread over
every worker running it. Triggers are delivered one at a time, in order, and the offset
after a trigger is committed (synchronously) only once the endpoint answered 2xx or the
trigger was dead-lettered; the next trigger is sent after that commit. So:

- a worker that dies (even SIGKILL) mid-delivery has committed every trigger the
  endpoint acknowledged before the one in flight; its successor (or its restart) sends
  the one in flight again and carries on. Nothing acknowledged is lost or sent again,
  except when the death falls between a 2xx and its commit (one synchronous Kafka call):
  then that trigger is sent once more with the same ``Idempotency-Key``;
- a trigger that keeps failing (5xx, 408, 429, timeout, no connection) is retried with
  exponential backoff and full jitter (:mod:`streams.webhooks.policy`) for up to
  ``retry_for_s`` after its first attempt; then (or at once, for any other status) it
  goes to the webhook dead-letter topic with the last error, and delivery moves on.
  Later triggers wait meanwhile: an endpoint gets its triggers in order.

Every request: ``POST`` of the trigger's JSON exactly as published, headers
``Content-Type: application/json``, ``Idempotency-Key: <trigger_id>``,
``Shopstream-Signature: t=<unix s>,v1=<HMAC-SHA256 of "<t>." + body>``
(:mod:`models.signatures`), ``Shopstream-Trigger-Type``, ``Shopstream-Endpoint``,
``Shopstream-Delivery-Attempt``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPException
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from models.deadletters import dead_letter, dead_letter_key
from models.errors import Issue
from models.signatures import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signature
from streams.webhooks import metrics
from streams.webhooks.endpoints import Endpoint
from streams.webhooks.policy import RetryPolicy, backoff_s, give_up, outcome

log = logging.getLogger(__name__)

DELIVERY_FAILED = "delivery_failed"      # retried until the window closed
DELIVERY_REJECTED = "delivery_rejected"  # answered with a status that is not retried
TRIGGER_INVALID = "trigger_invalid"      # not a trigger: nothing to send


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer
    error: str | None
    seconds: float


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the endpoint's answer, not a place to go: urllib would follow a 301,
    302 or 303 with a GET and no body, and the POST would count as delivered."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # (urllib then raises HTTPError with the 3xx status)


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """One POST; never raises for what the network or the endpoint does. A redirect is not
    followed: it is an answer (3xx), refused as any answer but 2xx."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    started = time.perf_counter()
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65_536)
            return Answer(int(response.status), None, time.perf_counter() - started)
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        if 300 <= exc.code < 400:
            detail = (f"a redirect to {exc.headers.get('Location')}, not followed (a POST "
                      "would arrive as a GET without its body): register that URL")
        return Answer(exc.code, f"HTTP {exc.code}{': ' + detail if detail else ''}",
                      time.perf_counter() - started)
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        return Answer(None, f"{type(reason).__name__}: {reason}", time.perf_counter() - started)
    except ValueError as exc:  # a URL urllib cannot send (saved before URLs were checked)
        return Answer(None, f"the URL cannot be sent: {exc}", time.perf_counter() - started)


@dataclass(frozen=True)
class DeliveryConfig:
    bootstrap: str
    group: str
    topics: list[str]
    dlq_topic: str
    policy: RetryPolicy
    timeout_s: float
    session_timeout_s: float = 30.0


class EndpointDelivery:
    """One endpoint's delivery loop; :meth:`run` in a thread, :meth:`stop` from another
    (a delivery being retried is abandoned uncommitted: it is sent again later)."""

    def __init__(self, endpoint: Endpoint, config: DeliveryConfig, dead_letters: Producer,
                 on_progress: Callable[[int], None] = lambda n: None,
                 on_warning: Callable[[str], None] = lambda text: None,
                 send: Callable[[str, bytes, dict[str, str], float], Answer] = post,
                 erased: Callable[[str, str | None], bool] = lambda tenant, ident: False) -> None:
        self.endpoint, self.config, self.dead_letters = endpoint, config, dead_letters
        self.on_progress, self.on_warning, self.send = on_progress, on_warning, send
        self.erased = erased  # the suppression list's check (streams/privacy)
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.label = endpoint.id
        window_ms = int((config.policy.retry_for_s + config.timeout_s + 120) * 1000)
        self.consumer = Consumer({
            "bootstrap.servers": config.bootstrap, "group.id": config.group,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "isolation.level": "read_committed", "enable.partition.eof": True,
            "session.timeout.ms": int(config.session_timeout_s * 1000),
            # one trigger may be retried for the whole window between two polls
            "max.poll.interval.ms": max(300_000, window_ms),
        })
        self._committed: dict[tuple[str, int], int] = {}

    def run(self) -> None:
        try:
            self.consumer.subscribe(self.config.topics)
            while not self.stopping.is_set():
                message = self.consumer.poll(0.5)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.fatal():
                        raise RuntimeError(f"webhook {self.label} consumer: {error}")
                    if error.code() == KafkaError._PARTITION_EOF:
                        self._commit_end(message)
                    continue
                if not self._handle(message):
                    break  # stopping: the trigger in flight is not committed
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            metrics.RETRYING.labels(self.label).set(0)
            self.consumer.close()

    def stop(self) -> None:
        self.stopping.set()

    # -- one trigger ---------------------------------------------------------------------

    def _handle(self, message: Message) -> bool:
        """Deliver or dead-letter ``message``, then commit after it; False when stopped."""
        body = message.value() or b""
        try:
            trigger = orjson.loads(body)
            trigger_id, kind = str(trigger["trigger_id"]), str(trigger["type"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            self._dead_letter(message, TRIGGER_INVALID, f"not a trigger: {exc}", 0)
            return self._commit(message)
        first = time.monotonic()
        attempt = 0
        while True:
            if self._names_erased(trigger):  # erased since it was emitted: sent to nobody
                metrics.ERASED.labels(self.label).inc()
                metrics.RETRYING.labels(self.label).set(0)
                return self._commit(message)
            attempt += 1
            answer = self.send(self.endpoint.url, body, self._headers(body, trigger_id, kind,
                                                                       attempt),
                               self.config.timeout_s)
            verdict = outcome(answer.status)
            metrics.ATTEMPTS.labels(self.label, verdict).inc()
            metrics.REQUEST_SECONDS.labels(self.label).observe(answer.seconds)
            if verdict == "ok":
                metrics.RETRYING.labels(self.label).set(0)
                metrics.DELIVERED.labels(self.label).inc()
                metrics.LAST_SUCCESS.labels(self.label).set(time.time())
                self.on_progress(1)
                return self._commit(message)
            wait = backoff_s(self.config.policy, attempt, random.random())
            if verdict == "rejected" or give_up(self.config.policy, time.monotonic() - first, wait):
                code = DELIVERY_REJECTED if verdict == "rejected" else DELIVERY_FAILED
                self._dead_letter(message, code, answer.error or "no answer", attempt)
                metrics.RETRYING.labels(self.label).set(0)
                return self._commit(message)
            metrics.RETRYING.labels(self.label).set(1)
            self.on_warning(f"webhook {self.label}: trigger {trigger_id} attempt {attempt} "
                            f"failed ({answer.error}); retrying in {wait:.1f}s")
            if self.stopping.wait(wait):
                return False

    def _names_erased(self, trigger: dict[str, object]) -> bool:
        tenant = str(trigger.get("tenant") or "")
        return any(self.erased(tenant, str(ident)) for ident in
                   (trigger.get("user_id"), trigger.get("anonymous_id")) if ident)

    def _headers(self, body: bytes, trigger_id: str, kind: str, attempt: int) -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": "shopstream-webhooks",
                IDEMPOTENCY_HEADER: trigger_id,
                SIGNATURE_HEADER: signature(self.endpoint.secret, int(time.time()), body),
                "Shopstream-Trigger-Type": kind, "Shopstream-Endpoint": self.endpoint.id,
                "Shopstream-Delivery-Attempt": str(attempt)}

    def _dead_letter(self, message: Message, code: str, error: str, attempts: int) -> None:
        """Written (and acknowledged by Kafka) before the offset commits: at least once."""
        topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
        record: dict[str, Any] = orjson.loads(dead_letter(
            message.value() or b"", [Issue(code, "", error[:1000])], topic=topic,
            partition=partition, offset=offset, key=message.key(),
            failed_at=datetime.now(UTC), stage="webhook"))
        record.update(endpoint=self.endpoint.id, url=self.endpoint.url, attempts=attempts)
        failures: list[Any] = []
        self.dead_letters.produce(self.config.dlq_topic, orjson.dumps(record),
                                  dead_letter_key(message.key()),
                                  on_delivery=lambda err, _m: failures.append(err) if err else None)
        while self.dead_letters.flush(5) > 0 and not failures:
            if self.stopping.is_set():
                raise RuntimeError("stopped before a webhook dead letter was written")
        if failures:
            raise RuntimeError(f"webhook dead letter not written: {failures[0]}")
        metrics.DEAD_LETTERS.labels(self.label).inc()
        log.warning("webhook %s: %s[%d]@%d dead-lettered after %d attempt(s): %s", self.label,
                    topic, partition, offset, attempts, error[:200])

    # -- offsets ---------------------------------------------------------------------------

    def _commit(self, message: Message) -> bool:
        topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
        self._commit_at(topic, partition, offset + 1)
        return True

    def _commit_end(self, message: Message) -> None:
        """At a partition's end every trigger before it was handled: commit the end itself,
        past any transaction markers, so the group's lag reads 0 when all is delivered."""
        topic, partition = message.topic() or "", message.partition() or 0
        position = self.consumer.position([TopicPartition(topic, partition)])[0].offset
        if position > self._committed.get((topic, partition), -1):
            self._commit_at(topic, partition, position)

    def _commit_at(self, topic: str, partition: int, offset: int) -> None:
        try:
            self.consumer.commit(offsets=[TopicPartition(topic, partition, offset)],
                                 asynchronous=False)
            self._committed[(topic, partition)] = offset
        except Exception as exc:  # noqa: BLE001 - the partition moved: its next owner resends
            log.warning("webhook %s: commit of %s[%d]@%d failed (%s); the next owner of the "
                        "partition sends it again", self.label, topic, partition, offset, exc)
