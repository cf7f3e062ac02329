"""Running the recommender jobs on one database: from the CLI (a ClickHouse server, or
embedded ClickHouse with no worker), or inside the worker (web endpoints, schedule).

One job at a time per process: a second ``train`` waits for the first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from models.ecommerce import EventName as E
from models.errors import ShopstreamError
from models.settings import Settings
from recommender import experiment
from recommender.job import Progress, SplitChoice, evaluate_job, publish_active, read, train_job
from recommender.publish import Send
from recommender.registry import Registry
from sinks.schema import sql_names

log = logging.getLogger(__name__)
SenderFactory = Callable[[], AbstractContextManager[Send | None]]
RETRY_AFTER_FAILURE_S = 600.0

NEW_ORDERS_SQL = f"""
SELECT count() FROM events
WHERE tenant = {{tenant:String}} AND event = {sql_names(E.ORDER_COMPLETED)}
  AND event_time > {{since:DateTime64(3, 'UTC')}}
"""


def should_retrain(now: datetime, last_trained_at: datetime | None, new_orders: int,
                   interval_s: float, after_orders: int) -> str | None:
    """Why a retrain is due, or None (pure). Without any model, only enough orders start one."""
    if new_orders >= after_orders:
        return f"{new_orders} new orders (threshold {after_orders})"
    if last_trained_at is not None and (now - last_trained_at).total_seconds() >= interval_s:
        return f"last trained {last_trained_at:%Y-%m-%d %H:%M} UTC (every {interval_s:.0f}s)"
    return None


class JobRunner:
    def __init__(self, database: Callable[[], Client], settings: Settings,
                 sender: SenderFactory | None = None) -> None:
        """``sender`` opens where published top-N go besides ClickHouse (Kafka in the worker
        and the CLI); without one, recommendations go to ClickHouse only."""
        self.database, self.settings, self.sender = database, settings, sender
        self._lock = threading.Lock()
        self._failed_at: datetime | None = None

    def tenant(self, tenant: str | None) -> str:
        return tenant or self.settings.default_tenant

    def registry(self, tenant: str | None) -> Registry:
        return Registry(self.database(), self.settings.model_registry, self.tenant(tenant))

    def train(self, tenant: str | None, choice: SplitChoice, progress: Progress) -> dict[str, Any]:
        with self._lock, self._sender() as send:
            return train_job(self.database(), self.settings, self.tenant(tenant), choice,
                             progress, send)

    def evaluate(self, tenant: str | None, choice: SplitChoice, progress: Progress) -> dict[str, Any]:
        with self._lock:
            return evaluate_job(self.database(), self.settings, self.tenant(tenant), choice, progress)

    def models(self, tenant: str | None) -> list[dict[str, Any]]:
        return [record.detail() for record in self.registry(tenant).records()]

    def activate(self, tenant: str | None, version: int, progress: Progress) -> dict[str, Any]:
        """Make ``version`` active (a rollback, or overriding the gate) and publish its top-N."""
        with self._lock:
            registry = self.registry(tenant)
            record = registry.activate(version)
            progress(f"v{version} is now active")
            model = registry.load(record)
            inter = read(self.database(), self.settings, self.tenant(tenant), progress)
            with self._sender() as send:
                published = publish_active(self.database(), self.settings, self.tenant(tenant),
                                           version, model, inter, send, datetime.now(UTC),
                                           progress)
            return {**record.summary(), "published": published}

    def ab_start(self, tenant: str | None, version: int, progress: Progress) -> dict[str, Any]:
        """Serve ``version`` to a share of the shoppers (``SHOPSTREAM_RECO_AB_SHARE``)."""
        with self._lock:
            return experiment.start(self.registry(tenant), version, self.settings.reco_ab_share,
                                    datetime.now(UTC), progress)

    def ab_stop(self, tenant: str | None, progress: Progress) -> dict[str, Any]:
        with self._lock:
            return experiment.stop(self.registry(tenant), datetime.now(UTC), progress)

    def ab_report(self, tenant: str | None, progress: Progress) -> dict[str, Any]:
        """Clicks and purchases of recommended products per variant of the latest A/B test."""
        return experiment.report(self.database(), self.registry(tenant), self.tenant(tenant),
                                 self.settings.reco_ab_days, self.settings.reco_publish_n,
                                 progress)

    def _sender(self) -> AbstractContextManager[Send | None]:
        return self.sender() if self.sender is not None else nullcontext()

    def retrain_if_due(self, tenant: str | None = None,
                       now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dict[str, Any] | None:
        """The schedule: train when the interval has passed or enough orders came in."""
        tenant = self.tenant(tenant)
        if self._failed_at and (now() - self._failed_at).total_seconds() < RETRY_AFTER_FAILURE_S:
            return None
        records = self.registry(tenant).records()
        last = max(records, key=lambda r: r.trained_at) if records else None
        since = last.data_end if last else datetime(1970, 1, 1, tzinfo=UTC)
        orders = int(self.database().query(
            NEW_ORDERS_SQL, parameters={"tenant": tenant, "since": since}).result_rows[0][0])
        reason = should_retrain(now(), last.trained_at if last else None, orders,
                                self.settings.reco_retrain_interval_s,
                                self.settings.reco_retrain_after_orders)
        if reason is None:
            return None
        log.info("recommender: retraining for tenant %s: %s", tenant, reason)
        try:
            result = self.train(tenant, SplitChoice(self.settings.reco_holdout),
                                lambda line: log.info("recommender: %s", line))
        except ShopstreamError as exc:
            self._failed_at = now()
            log.warning("recommender: scheduled training failed (next try in %.0fs): %s",
                        RETRY_AFTER_FAILURE_S, exc)
            return None
        self._failed_at = None
        return result
