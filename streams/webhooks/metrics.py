"""Prometheus metrics of webhook delivery, per endpoint, in the worker's registry (served at
``/metrics``; ``shopstream webhooks status`` reads them back). Names are part of the
operator contract."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from streams.monitoring.metrics import REGISTRY

ATTEMPTS = Counter(
    "shopstream_webhook_attempts_total", "Delivery attempts (HTTP requests), by endpoint and "
    "outcome: ok (2xx), retry (5xx, 408, 429, timeout, connection error), rejected (other)",
    ["endpoint", "outcome"], registry=REGISTRY,
)
DELIVERED = Counter(
    "shopstream_webhook_delivered_total", "Triggers an endpoint acknowledged (2xx)",
    ["endpoint"], registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "shopstream_webhook_dead_letters_total", "Triggers given up on (retried past "
    "SHOPSTREAM_WEBHOOK_RETRY_FOR_S, or rejected), sent to the webhook dead-letter topic",
    ["endpoint"], registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "shopstream_webhook_request_seconds", "Time of one delivery attempt", ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY,
)
RETRYING = Gauge(
    "shopstream_webhook_retrying", "1 while an endpoint's next trigger waits for a retry",
    ["endpoint"], registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "shopstream_webhook_last_success_timestamp_seconds", "When the endpoint last answered 2xx "
    "(unix seconds)", ["endpoint"], registry=REGISTRY,
)
ERASED = Counter(
    "shopstream_webhook_erased_total", "Triggers not sent because they name a person erased "
    "since they were emitted (the suppression list)", ["endpoint"], registry=REGISTRY,
)
