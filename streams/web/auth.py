"""API keys on the worker's views. ``/health``, ``/ready`` and ``/metrics`` stay open; everything else
(SQL, reports, live views and the dashboard, recommendations, the recommender) needs a read
or admin key, and answers for the key's tenant only; training, activating and A/B tests need
an admin key. On whenever the worker listens beyond loopback (``SHOPSTREAM_AUTH``).

The key comes as ``Authorization: Bearer <key>`` (or HTTP Basic's user), or once as
``?key=`` on the dashboard's address: it is then kept in an HttpOnly cookie for the page's
server-sent events.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson
from aiohttp import web
from clickhouse_connect.driver.client import Client

from models.keys import ApiKey, Role, may_administer, may_read
from models.settings import Settings
from streams.collector.intake import credentials
from streams.collector.keystore import KeyStore

log = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/health", "/ready", "/metrics"})
ADMIN_PATHS = ("/recommender/train", "/recommender/activate", "/recommender/ab/start",
               "/recommender/ab/stop")
COOKIE = "shopstream_key"
KEY = "shopstream.api_key"  # where the request keeps its key's record
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_enabled(settings: Settings) -> bool:
    """``on``/``off`` as set; ``auto``: on unless the worker listens on loopback only."""
    if settings.auth != "auto":
        return settings.auth == "on"
    host = settings.web_host.strip()
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a host name: reachable from elsewhere


def _refuse(status: int, message: str) -> web.Response:
    return web.Response(body=orjson.dumps({"error": message}), status=status,
                        content_type="application/json")


def auth_middleware(keys: KeyStore) -> Callable[[web.Request, Handler], Awaitable[Any]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        from_query = request.query.get("key")
        presented = credentials(request.headers.get("Authorization")) or from_query \
            or request.cookies.get(COOKIE)
        if not presented:
            return _refuse(401, "an API key is needed: Authorization: Bearer <read key> "
                           "(`shopstream keys create --role read`)")
        if not keys.loaded.is_set():
            return _refuse(503, "the API keys are not loaded yet; try again in a moment")
        record = keys.check(presented)
        if record is None:
            record = await asyncio.to_thread(keys.verify, presented)
        if not isinstance(record, ApiKey):
            return _refuse(401, "the API key is unknown or revoked")
        if not may_read(record.role):
            return _refuse(403, f"{Role(record.role).key_phrase} cannot read; use a read or admin key")
        if request.path.startswith(ADMIN_PATHS) and not may_administer(record.role):
            return _refuse(403, "this needs an admin key")
        asked = request.query.get("tenant")
        if asked and asked != record.tenant:
            return _refuse(403, f"this key is for tenant {record.tenant!r}, not {asked!r}")
        if not asked:  # every view reads ?tenant=: the key's it is
            request = request.clone(rel_url=request.rel_url.update_query(tenant=record.tenant))
        request[KEY] = record
        response = await handler(request)
        if from_query:
            response.set_cookie(COOKIE, presented, httponly=True, samesite="Strict")
        return response

    return middleware


def install_auth(app: faust.App, settings: Settings) -> KeyStore | None:
    """When auth is on: follow the keys topic and guard every view (before the web server
    starts). None when it is off."""
    if not auth_enabled(settings):
        return None
    from streams.kafka.discovery import require_bootstrap

    keys = KeyStore(require_bootstrap(settings), settings.topics.keys).start()
    app.web.web_app.middlewares.append(  # type: ignore[attr-defined]  # (the aiohttp driver)
        auth_middleware(keys))
    log.info("API keys required on the web views (SHOPSTREAM_AUTH=%s)", settings.auth)
    return keys


def scoped_tenant(request: Any) -> str | None:
    """The tenant a request is held to, None when auth is off."""
    record = request.get(KEY)
    return record.tenant if isinstance(record, ApiKey) else None


_tenant_tables: dict[str, list[str]] = {}
_tables_lock = threading.Lock()


def sql_scope(client: Client, tenant: str | None) -> dict[str, Any]:
    """ClickHouse settings that hold ad-hoc SQL to one tenant: every table and view with a
    ``tenant`` column is filtered (``additional_table_filters``). What could read around the
    filters (table functions, another database's tables, a SETTINGS clause) is refused by
    :func:`sinks.sql.check_parsed`, told the query is a tenant's."""
    if tenant is None:
        return {}
    database = client.database or ""
    with _tables_lock:
        tables = _tenant_tables.get(database)
        if tables is None:
            tables = [row[0] for row in client.query(
                "SELECT DISTINCT table FROM system.columns WHERE database = currentDatabase() "
                "AND name = 'tenant'").result_rows]
            _tenant_tables[database] = tables
    condition = _literal(f"tenant = {_literal(tenant)}")
    filters = ", ".join(f"{_literal(name)}: {condition}" for table in tables
                        for name in (table, f"{database}.{table}"))
    return {"additional_table_filters": "{" + filters + "}"}


def _literal(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
