"""The worker's live views: ``/funnel``, ``/trending``, ``/live``, ``/triggers/recent``,
the dashboard at ``/`` and its server-sent events at ``/live/stream``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any

import faust
from aiohttp import web as aioweb
from clickhouse_connect.driver.client import Client

from models.durations import parse_seconds
from models.serde import dumps
from models.settings import Settings
from streams.stages.live import LiveStage
from streams.web.auth import scoped_tenant

log = logging.getLogger(__name__)
STREAM_EVERY_S = 1.0


def _json(web: Any, body: Any, status: int = 200) -> Any:
    return web.bytes(dumps(body), content_type="application/json", status=status)


def snapshot(live: LiveStage, tenant: str, only_tenant: bool = False) -> dict[str, Any]:
    """What the dashboard shows, in one message (``only_tenant``: that tenant's triggers)."""
    return {"live": live.live(tenant), "funnel": live.funnel(tenant, 3_600_000),
            "trending": live.trending(tenant, 10, None),
            "triggers": recent_triggers(live, tenant if only_tenant else None)[:12]}


def recent_triggers(live: LiveStage, tenant: str | None) -> list[dict[str, Any]]:
    return [t for t in live.recent if tenant is None or t.get("tenant") == tenant]


def triggers_tenant(request: Any) -> str | None:
    """Whose triggers a request asks for: ``?tenant=`` (with auth on, always the key's
    tenant), else every tenant's."""
    return request.query.get("tenant") or scoped_tenant(request)


def register_live_web(app: faust.App, settings: Settings, live: LiveStage,
                      database: Callable[[], Client] | None = None) -> None:
    page = resources.files("streams.web.static").joinpath("dashboard.html").read_bytes()

    def tenant_of(request: Any) -> str:
        return request.query.get("tenant") or settings.default_tenant

    @app.page("/")
    async def dashboard(web: Any, request: Any) -> Any:
        return web.bytes(page, content_type="text/html")

    @app.page("/funnel")
    async def funnel_view(web: Any, request: Any) -> Any:
        try:
            window_s = parse_seconds(request.query.get("window", "1h"))
        except ValueError as exc:
            return _json(web, {"error": str(exc)}, 400)
        return _json(web, live.funnel(tenant_of(request), int(window_s * 1000)))

    @app.page("/trending")
    async def trending_view(web: Any, request: Any) -> Any:
        try:
            n = int(request.query.get("n", 10))
        except ValueError:
            return _json(web, {"error": "n must be a whole number"}, 400)
        return _json(web, live.trending(tenant_of(request), max(1, min(n, 500)),
                                        request.query.get("category") or None))

    @app.page("/live")
    async def live_view(web: Any, request: Any) -> Any:
        return _json(web, live.live(tenant_of(request)))

    @app.page("/triggers/recent")
    async def recent_view(web: Any, request: Any) -> Any:
        return _json(web, recent_triggers(live, triggers_tenant(request)))

    @app.page("/live/stream")
    async def stream_view(web: Any, request: Any) -> Any:
        """Server-sent events: a snapshot every second until the browser goes away."""
        response = aioweb.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no"})
        await response.prepare(request)
        tenant, scoped = tenant_of(request), triggers_tenant(request) is not None
        try:
            while True:
                await response.write(b"data: " + dumps(snapshot(live, tenant, scoped)) + b"\n\n")
                await asyncio.sleep(STREAM_EVERY_S)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response
