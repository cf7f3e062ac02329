"""The collector's Prometheus metrics (a registry of its own: the collector is its own
process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

REQUESTS = Counter("shopstream_collector_requests_total", "HTTP requests answered, by "
                   "endpoint and status", ["endpoint", "status"], registry=REGISTRY)
EVENTS = Counter("shopstream_collector_events_total", "events acknowledged by Kafka, by "
                 "endpoint", ["endpoint"], registry=REGISTRY)
LATENCY = Histogram("shopstream_collector_request_seconds", "time from a request's arrival "
                    "to its answer", ["endpoint"], registry=REGISTRY,
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                             5, 10))
UNACKED = Gauge("shopstream_collector_events_in_flight", "events produced and not yet "
                "acknowledged by Kafka", registry=REGISTRY)
KEYS = Gauge("shopstream_collector_keys", "active API keys this process knows",
             registry=REGISTRY)
PRODUCER_REPLACEMENTS = Counter("shopstream_collector_producer_replacements_total", "Kafka "
                                "producers replaced: one failed for good, or had nothing "
                                "acknowledged for a while", registry=REGISTRY)
