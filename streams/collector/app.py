"""The collector's HTTP service (aiohttp).

``POST /v1/{track,identify,page,screen,alias,group}`` and ``/v1/batch`` (Segment's HTTP
Tracking API), ``POST /collect`` and ``/api/v1/core/collect/`` (the flat envelope, or
Segment-style events), ``GET /sdk.js`` (the browser SDK), ``GET /health``, ``GET /metrics``.
A request is answered 200 only once Kafka acknowledged every one of its events.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from models.keys import ApiKey, Role, may_write
from models.settings import Settings
from streams.collector import metrics
from streams.collector.intake import (
    BATCH_LIMIT,
    SEGMENT_CALLS,
    Body,
    Network,
    Rejected,
    client_ip,
    credentials,
    decode_body,
    flat_body,
    frame,
    parse_networks,
    segment_body,
    stamp,
)
from streams.collector.keystore import KeyStore
from streams.collector.producer import AckingProducer, NotAcknowledged
from streams.collector.ratelimit import RateLimits, retry_after

log = logging.getLogger(__name__)
ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding"
UNAVAILABLE_RETRY_S = 5
Send = Callable[[list[tuple[bytes | None, bytes]]], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Collector:
    """What the handlers share; no state about events (collectors are stateless)."""

    settings: Settings
    keys: KeyStore
    send: Send
    trusted: tuple[Network, ...] = ()
    limits: RateLimits = field(default_factory=RateLimits)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic

    async def key_for(self, presented: str | None) -> ApiKey:
        if not presented:
            raise Rejected(401, "key_missing", "a write key is needed: HTTP Basic user "
                           "(Segment's convention), a Bearer token, or writeKey in the body")
        record = self.keys.check(presented)
        if record is None:  # first use of this key here: one scrypt hash, off the loop
            record = await asyncio.to_thread(self.keys.verify, presented)
        if not isinstance(record, ApiKey):
            raise Rejected(403, "key_invalid", "the key is unknown or revoked")
        if not may_write(record.role):
            raise Rejected(403, "key_not_write", f"{Role(record.role).key_phrase} cannot "
                           "send events; use a write key")
        return record


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers,
                        content_type="application/json")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None
           ) -> web.Response:
    return _answer(status, {"success": False, "code": code, "message": message}, headers)


def _cors(request: web.Request) -> dict[str, str]:
    """CORS headers for a page at any origin, so that it can read every answer: its events
    acknowledged, or why they were refused (an answer a page may not read is a network error
    to it, and the SDK retries those: forever, for a revoked key). Safe: no credentials are
    involved (the key travels in the request, no cookie is read), and the key's origins are
    checked on the request itself: a page at an origin its key does not allow reads a 403
    ``origin_not_allowed``, never a 200."""
    origin = request.headers.get("Origin")
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Expose-Headers": "Retry-After", "Access-Control-Max-Age": "600"}


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The router's own refusals as the collector's other errors are: JSON, with CORS
    headers for a browser (an unknown path is a 404 naming it)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = _cors(request)
        if exc.status == 404:
            return _error(404, "not_found", f"there is no {request.path} here: events go to "
                          "/v1/batch, /v1/<call> or /collect", headers)
        if isinstance(exc, web.HTTPMethodNotAllowed):
            allowed = ", ".join(sorted(exc.allowed_methods))
            return _error(405, "method_not_allowed", f"{request.method} is not allowed on "
                          f"{request.path} (allowed: {allowed})", {**headers, "Allow": allowed})
        return _error(exc.status, "http_error", exc.reason, headers)


async def _read(request: web.Request) -> bytes:
    """The raw body, refusing more than the batch limit (compressed) before it is all read."""
    if (request.content_length or 0) > BATCH_LIMIT:
        raise Rejected(400, "too_large", f"a request is at most {BATCH_LIMIT} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65_536):
        size += len(chunk)
        if size > BATCH_LIMIT:
            raise Rejected(400, "too_large", f"a request is at most {BATCH_LIMIT} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def events_view(collector: Collector, endpoint: str,
                parse: Callable[[bytes], Body]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        started = time.perf_counter()
        cors = _cors(request)
        try:
            response = await _take(collector, request, endpoint, parse, cors)
        except Rejected as exc:
            headers = dict(cors)
            if exc.retry_after is not None:
                headers["Retry-After"] = exc.retry_after
            response = _error(exc.status, exc.code, exc.message, headers)
        except Exception:  # a bug: logged, and answered as the other errors are (CORS too)
            log.exception("answering 500 to %s %s", request.method, request.path)
            response = _error(500, "internal_error", "the collector failed on this request; "
                              "its log says why", cors)
        metrics.REQUESTS.labels(endpoint, str(response.status)).inc()
        metrics.LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response

    return handle


async def _take(collector: Collector, request: web.Request, endpoint: str,
                parse: Callable[[bytes], Body], cors: dict[str, str]) -> web.Response:
    header_key = credentials(request.headers.get("Authorization"))
    record = await collector.key_for(header_key) if header_key else None
    body = parse(decode_body(await _read(request), request.headers.get("Content-Encoding")))
    if record is None:
        record = await collector.key_for(body.write_key)
    origin = request.headers.get("Origin")
    if origin and not record.allows_origin(origin):
        raise Rejected(403, "origin_not_allowed", f"this key is not for pages at {origin}")
    rate = record.rate or collector.settings.collector_default_rate
    wait = collector.limits.take(record.key_id, rate, len(body.events), collector.monotonic())
    if wait:
        raise Rejected(429, "rate_limited", f"this key may send {rate:g} events per second",
                       retry_after(wait))
    received = collector.clock()
    ip = client_ip(request.remote, request.headers.get("X-Forwarded-For"), collector.trusted)
    records = [frame(stamp(event, tenant=record.tenant, received_at=received, client_ip=ip))
               for event in body.events]
    try:
        await collector.send(records)
    except NotAcknowledged as exc:
        log.warning("answering 503: %s", exc)
        raise Rejected(503, "kafka_unavailable", f"events not stored, send them again: {exc}",
                       str(UNAVAILABLE_RETRY_S)) from None
    metrics.EVENTS.labels(endpoint).inc(len(records))
    return _answer(200, {"success": True, "events": len(records)}, cors)


def build_app(collector: Collector, health: Callable[[], tuple[bool, dict[str, Any]]]
              ) -> web.Application:
    app = web.Application(client_max_size=BATCH_LIMIT + 1, middlewares=[_json_errors])

    async def preflight(request: web.Request) -> web.Response:
        return web.Response(status=204, headers=_cors(request))

    def events(path: str, view: Handler) -> None:  # the paths browsers post to
        app.router.add_post(path, view)
        app.router.add_route("OPTIONS", path, preflight)

    segment_batch = events_view(collector, "/v1/batch", lambda raw: segment_body(raw, None))
    events("/v1/batch", segment_batch)
    events("/v1/import", segment_batch)
    for call in SEGMENT_CALLS:
        events(f"/v1/{call}", events_view(
            collector, f"/v1/{call}", functools.partial(segment_body, call=call)))
    flat = events_view(collector, "/collect", flat_body)
    for path in ("/collect", "/api/v1/core/collect/", "/api/v1/core/collect"):
        events(path, flat)

    sdk = resources.files("streams.collector.static").joinpath("sdk.js").read_bytes()

    async def sdk_view(request: web.Request) -> web.Response:
        return web.Response(body=sdk, content_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=300",
                                     "Access-Control-Allow-Origin": "*"})

    async def health_view(request: web.Request) -> web.Response:
        ok, report = health()
        return _answer(200 if ok else 503, {"status": "ok" if ok else "unhealthy", **report})

    async def metrics_view(request: web.Request) -> web.Response:
        metrics.KEYS.set(len(collector.keys.active()))
        return web.Response(body=generate_latest(metrics.REGISTRY),
                            content_type=CONTENT_TYPE_LATEST.split(";")[0])

    app.router.add_get("/sdk.js", sdk_view)
    app.router.add_get("/health", health_view)
    app.router.add_get("/metrics", metrics_view)
    return app


def run_collector(settings: Settings, bootstrap: str) -> None:
    """Serve until SIGINT/SIGTERM; then finish requests in flight and deliver what is queued."""
    from streams.kafka.admin import topics_for_producing

    try:
        trusted = parse_networks(settings.collector_trusted_proxies)
    except ValueError as exc:
        from models.errors import ConfigurationError

        raise ConfigurationError(f"SHOPSTREAM_COLLECTOR_TRUSTED_PROXIES: {exc}") from None
    log.info("collector: reaching Kafka at %s", bootstrap)
    # a broker that does not answer: one plain error (exit 2) for the supervisor to act on
    topics_for_producing(settings, bootstrap, timeout=30.0)
    keys = KeyStore(bootstrap, settings.topics.keys).start()
    keys.wait_loaded(60)
    producer = AckingProducer(bootstrap, settings.topics.raw, settings.collector_ack_timeout_s)
    collector = Collector(settings, keys, producer.send, trusted)

    def health() -> tuple[bool, dict[str, Any]]:
        # the keys unread for the blocked limit (a Kafka outage, above all: requests are
        # answered 503 meanwhile anyway) or their reader dead
        ok = producer.failure is None and not keys.failing(settings.blocked_limit_s)
        return ok, {"topic": settings.topics.raw, "keys": len(keys.active()),
                    "producer_error": producer.failure, "keys_error": keys.error,
                    "seconds_since_kafka_ack": round(producer.seconds_since_ack, 1),
                    "producer_replacements": producer.replacements}

    app = build_app(collector, health)

    async def close(_app: web.Application) -> None:
        left = await producer.aclose()
        keys.stop()
        if left:
            log.error("%d events were not delivered at shutdown (their requests got 503)", left)

    async def start(_app: web.Application) -> None:
        producer.start()

    app.on_startup.append(start)
    app.on_cleanup.append(close)
    log.info("collector on http://%s:%d -> %s (%d keys)", settings.collector_host,
             settings.collector_port, settings.topics.raw, len(keys.active()))
    web.run_app(app, host=settings.collector_host, port=settings.collector_port,
                access_log=None, print=None, shutdown_timeout=30,
                auto_decompress=False)  # decode_body inflates, within the batch limit
