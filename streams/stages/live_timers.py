"""The worker's periodic jobs on the live state (Faust timers): the live figures as
Prometheus gauges, and trending snapshots published to the compacted ``shop.trending``."""

from __future__ import annotations

import faust

from models.serde import dumps
from models.settings import Settings
from streams.monitoring import metrics
from streams.monitoring.health import StageHealth
from streams.stages.live import LiveStage


def register_live_timers(app: faust.App, settings: Settings, live: LiveStage,
                         trending_health: StageHealth | None = None) -> None:
    """Prometheus gauges of the live figures, and trending snapshots to ``shop.trending``."""
    topics = settings.topics

    @app.timer(5.0)
    async def export_gauges() -> None:
        for tenant in live.tenants():
            figures = live.live(tenant)
            metrics.LIVE_REVENUE.labels(tenant, "1m").set(float(figures["revenue_last_minute"]))
            metrics.LIVE_REVENUE.labels(tenant, "1h").set(float(figures["revenue_last_hour"]))
            metrics.LIVE_ORDERS.labels(tenant, "1m").set(figures["orders_last_minute"])
            metrics.LIVE_ORDERS.labels(tenant, "1h").set(figures["orders_last_hour"])
            metrics.LIVE_ACTIVE_USERS.labels(tenant).set(figures["active_users_5m"])
            metrics.LIVE_OPEN_CARTS.labels(tenant).set(figures["open_carts"])

    @app.timer(settings.trending_publish_s)
    async def publish_trending() -> None:
        """Top-N overall and per top-level category to the compacted ``shop.trending``,
        keyed by scope: by the worker that owns partition 0 of the trending updates (every
        worker's merged view is the same)."""
        if trending_health is None or 0 not in trending_health.partitions:
            return
        n = settings.trending_top_n
        for tenant in live.tenants():
            for category in [None, *sorted(live.categories(tenant))]:
                snapshot = live.trending(tenant, n, category)
                scope = f"category:{category}" if category else "all"
                value = dumps({"type": "trending", "scope": scope, **snapshot})
                await app.producer.send(topics.trending, f"{tenant}|{scope}".encode(), value,
                                        None, None, None)
