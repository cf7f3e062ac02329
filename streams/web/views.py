"""HTTP views on the worker: ``/metrics``, ``/health``, and for analysts ``/sql`` and
``/report/{name}`` (in embedded mode the worker owns the chDB files, so this is how
anyone else queries them)."""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

import faust
from clickhouse_connect.driver.client import Client
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from models.errors import ShopstreamError
from models.serde import dumps
from models.settings import Settings
from sinks.errors import ReadOnlyViolation
from sinks.metrics import REGISTRY as SINK_REGISTRY
from sinks.report_types import column_kinds
from sinks.reports import REPORTS, Table, run_report
from sinks.sql import run_sql
from streams.kafka.follower import followers_health
from streams.monitoring.health import REMOTE_TIMEOUT_S, HealthBoard
from streams.monitoring.metrics import LAG_REGISTRY, REGISTRY, VALIDATION_REGISTRY
from streams.monitoring.scrape import merge_exposition
from streams.web.auth import KEY, install_auth, scoped_tenant, sql_scope

log = logging.getLogger(__name__)


def _table_response(web: Any, table: Table) -> Any:
    body = {"columns": table.columns, "rows": table.rows, "kinds": column_kinds(table),
            "unconverted": {c: str(a) for c, a in table.unconverted.items()}}
    try:
        encoded = dumps(body)
    except TypeError:  # a value JSON has no form for (an ad-hoc query's IPv6 column): as text
        encoded = dumps({**body, "rows": [[_plain(v) for v in row] for row in table.rows]})
    return web.bytes(encoded, content_type="application/json")


def _plain(value: Any) -> Any:
    try:
        dumps(value)
    except TypeError:
        return str(value)
    return value


def _error(web: Any, message: str, status: int) -> Any:
    return web.bytes(dumps({"error": message}), content_type="application/json", status=status)


def exposition(registries: list[CollectorRegistry], remotes: list[str]) -> bytes:
    """This process's metrics and those of its stage processes, as one page."""
    texts: list[tuple[str, str | None]] = [
        (generate_latest(registry).decode(), None) for registry in registries]
    for index, url in enumerate(remotes):
        try:
            with urllib.request.urlopen(f"{url}/metrics", timeout=REMOTE_TIMEOUT_S) as response:
                # the first stage process's series as they are; a second one's (two validation
                # processes count the same things) labelled process="<n>" to stay apart
                texts.append((response.read().decode(), str(index) if index else None))
        except OSError as exc:
            log.warning("metrics of the stage process at %s unavailable: %s", url, exc)
    return merge_exposition(texts) if remotes else b"".join(t.encode() for t, _ in texts)


def register_web(app: faust.App, settings: Settings, board: HealthBoard,
                 database: Callable[[], Client] | None = None,
                 registries: list[CollectorRegistry] | None = None) -> None:
    local = registries or [REGISTRY, LAG_REGISTRY, SINK_REGISTRY, VALIDATION_REGISTRY]
    install_auth(app, settings)  # API keys on every view but /health and /metrics

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        # aiohttp wants the charset apart from the content type
        content_type = CONTENT_TYPE_LATEST.split(";")[0]
        body = await asyncio.to_thread(exposition, local, board.remotes)
        return web.bytes(body, content_type=content_type)

    @app.page("/health")
    async def health_view(web: Any, request: Any) -> Any:
        """Each stage: alive, partitions, progress, blocked and why; 503 when one died or
        has been blocked longer than ``blocked_limit_s``."""
        ok, stages, remote_followers = await asyncio.to_thread(board.report_all)
        followed, followers = followers_health(settings.blocked_limit_s)
        ok, followers = ok and followed, {**followers, **remote_followers}
        assignment = sorted({f"{tp.topic}:{tp.partition}" for tp in app.consumer.assignment()} |
                            {f"{s['topic']}:{p}" for s in stages.values() if s["topic"]
                             for p in s["partitions"]})
        return web.json(
            {
                "status": "ok" if ok else "unhealthy",
                "app": app.conf.id,
                "stages": stages,
                "followers": followers,
                "topics": settings.topics.all(),
                "assigned_partitions": assignment,
            },
            status=200 if ok else 503,
        )

    @app.page("/ready")
    async def ready_view(web: Any, request: Any) -> Any:
        """200 once every stage runs with its partitions' state rebuilt and every follower
        has read its topic (a balancer's readiness); 503 with what each waits for."""
        _well, followers = followers_health(settings.blocked_limit_s)
        ready, waiting = await asyncio.to_thread(board.readiness, followers)
        return web.json({"ready": ready, "waiting_for": waiting}, status=200 if ready else 503)

    if database is None:
        return

    async def answer(web: Any, work: Callable[[Client], Table]) -> Any:
        try:  # chDB releases the GIL while it works: run it off the event loop
            table = await asyncio.to_thread(lambda: work(database()))
        except (ReadOnlyViolation, KeyError, ValueError) as exc:
            return _error(web, str(exc).strip("'\""), 400)
        except ShopstreamError as exc:
            return _error(web, str(exc), 503)
        return _table_response(web, table)

    @app.page("/key")
    async def key_view(web: Any, request: Any) -> Any:
        """The tenant and role of the request's API key (``{"tenant": null}`` with auth off):
        the command line's tenant when it is given a key and no ``--tenant``."""
        record = request.get(KEY)
        return web.bytes(dumps({"tenant": scoped_tenant(request),
                                "role": getattr(record, "role", None)}),
                         content_type="application/json")

    @app.page("/sql")
    async def sql_view(web: Any, request: Any) -> Any:
        query, tenant = request.query.get("q", ""), scoped_tenant(request)
        if tenant is not None and not settings.tenant_sql:
            return _error(web, "ad-hoc SQL is not served to API keys: row filters cannot hold a "
                          "query to one tenant (its own errors can show other tenants' values). "
                          "A key reads its tenant's reports (/report/NAME); an operator runs "
                          "`shopstream sql` on the worker's machine or against ClickHouse "
                          "(SHOPSTREAM_TENANT_SQL=true serves keys, where every key holder may "
                          "see every tenant)", 403)
        return await answer(web, lambda client: run_sql(
            client, query, sql_scope(client, tenant),
            tenant_database=None if tenant is None else client.database or ""))

    @app.page("/revenue/breakdown")
    async def breakdown_view(web: Any, request: Any) -> Any:
        """Revenue by country and by device (the dashboard's tables): ``{"country": {columns,
        rows}, "device": {...}}``, for the tenant, range and bot option of the query."""
        from sinks.analytics.breakdown import revenue_breakdown
        from streams.cli.queries import params_from_query

        try:
            params = params_from_query(dict(request.query), settings)
        except ValueError as exc:
            return _error(web, f"bad parameter: {exc}", 400)
        try:
            tables = await asyncio.to_thread(lambda: revenue_breakdown(database(), params))
        except ShopstreamError as exc:
            return _error(web, str(exc), 503)
        return web.bytes(dumps({by: {"columns": t.columns, "rows": t.rows} for by, t in tables.items()}),
                         content_type="application/json")

    @app.page("/report/{name}")
    async def report_view(web: Any, request: Any, name: str) -> Any:
        from streams.cli.queries import params_from_query

        if name not in REPORTS:
            return _error(web, f"unknown report {name!r}; choose from {', '.join(REPORTS)}", 404)
        try:
            params = params_from_query(dict(request.query), settings)
        except ValueError as exc:
            return _error(web, f"bad parameter: {exc}", 400)
        return await answer(web, lambda client: run_report(client, name, params))
