"""HTTP views on the worker: ``/metrics`` (Prometheus) and ``/health``."""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.metrics import REGISTRY
from streams.settings import Settings


def register_web(app: faust.App, settings: Settings) -> None:
    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        # aiohttp wants the charset apart from the content type
        content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return web.bytes(generate_latest(REGISTRY), content_type=content_type)

    @app.page("/health")
    async def health_view(web: Any, request: Any) -> Any:
        assignment = sorted(f"{tp.topic}:{tp.partition}" for tp in app.consumer.assignment())
        return web.json(
            {
                "status": "ok",
                "app": app.conf.id,
                "topics": settings.topics.all(),
                "assigned_partitions": assignment,
            }
        )
