"""The worker's webhook stage: follows the endpoint topic and runs one delivery loop per
endpoint (:class:`~streams.webhooks.delivery.EndpointDelivery`, a thread each).

An endpoint added, changed or removed in ``shop.webhooks`` starts, restarts or stops its
loop within about a second, on every worker. A loop that dies unexpectedly fails the stage
(and so the worker, which a supervisor restarts); an endpoint that keeps failing does not:
its retries show as the stage's ``last_warning``, in the metrics and in
``shopstream webhooks status``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import Producer

from models.settings import Settings
from streams.monitoring.health import StageHealth
from streams.webhooks.delivery import DeliveryConfig, EndpointDelivery
from streams.webhooks.endpoints import (
    Endpoint,
    EndpointFollower,
    endpoint_group,
    ensure_webhook_topics,
)
from streams.webhooks.policy import RetryPolicy

log = logging.getLogger(__name__)


class WebhookStage:
    def __init__(self, settings: Settings, bootstrap: str, health: StageHealth,
                 erased: Callable[[str, str | None], bool] = lambda tenant, ident: False) -> None:
        self.settings, self.bootstrap, self.health = settings, bootstrap, health
        self.erased = erased  # an erased person's triggers are sent to no endpoint
        self.policy = RetryPolicy(settings.webhook_backoff_initial_s,
                                  settings.webhook_backoff_max_s, settings.webhook_retry_for_s)
        self._stop = threading.Event()
        self._running: dict[str, tuple[Endpoint, EndpointDelivery, threading.Thread]] = {}

    def run(self) -> None:
        ensure_webhook_topics(self.settings, self.bootstrap)
        follower = EndpointFollower(self.bootstrap, self.settings.topics.webhooks)
        dead_letters = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                                 "enable.idempotence": True, "linger.ms": 5})
        self.health.running()
        try:
            while not self._stop.is_set():
                self._reconcile(follower.poll(0.5), dead_letters)
                for endpoint_id, (_endpoint, delivery, thread) in self._running.items():
                    if not thread.is_alive() and delivery.error is not None:
                        raise RuntimeError(f"webhook delivery to {endpoint_id} died: "
                                           f"{delivery.error}") from delivery.error
            self.health.stopped()
        except Exception as exc:
            self.health.failed(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            for endpoint_id in list(self._running):
                self._halt(endpoint_id)
            follower.close()
            dead_letters.flush(10)

    def stop(self) -> None:
        self._stop.set()

    def _reconcile(self, endpoints: dict[str, Endpoint], dead_letters: Producer) -> None:
        for endpoint_id in list(self._running):
            if endpoints.get(endpoint_id) != self._running[endpoint_id][0]:
                self._halt(endpoint_id)
        for endpoint_id, endpoint in endpoints.items():
            if endpoint_id not in self._running:
                self._start(endpoint, dead_letters)

    def _start(self, endpoint: Endpoint, dead_letters: Producer) -> None:
        topics = self.settings.topics
        config = DeliveryConfig(
            bootstrap=self.bootstrap, group=endpoint_group(self.settings, endpoint.id),
            topics=[topics.triggers[kind] for kind in endpoint.types],
            dlq_topic=topics.webhooks_dlq, policy=self.policy,
            timeout_s=self.settings.webhook_timeout_s,
            session_timeout_s=self.settings.session_timeout_s)
        delivery = EndpointDelivery(endpoint, config, dead_letters,
                                    on_progress=self._progressed, on_warning=self._warn,
                                    erased=self.erased)
        thread = threading.Thread(target=self._main, args=(delivery,), daemon=True,
                                  name=f"webhook-{endpoint.id}")
        self._running[endpoint.id] = (endpoint, delivery, thread)
        thread.start()
        log.info("webhook %s: delivering %s to %s", endpoint.id, ", ".join(endpoint.types),
                 endpoint.url)

    @staticmethod
    def _main(delivery: EndpointDelivery) -> None:
        try:
            delivery.run()
        except BaseException:  # noqa: BLE001 - kept on the delivery; the stage reports it
            log.exception("webhook %s: delivery loop died", delivery.label)

    def _halt(self, endpoint_id: str) -> None:
        _endpoint, delivery, thread = self._running.pop(endpoint_id)
        delivery.stop()
        thread.join(self.settings.webhook_timeout_s + 30)
        log.info("webhook %s: delivery stopped", endpoint_id)

    def _progressed(self, records: int) -> None:
        self.health.progressed(records)
        self.health.committed()

    def _warn(self, text: str) -> None:
        self.health.warn(text)
        log.info("%s", text)
