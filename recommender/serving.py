"""Answering ``/recommendations/{user}`` and ``/similar/{product}`` from the active model.

Known users get the model's top N, leaving out everything they bought (per the
model's data and per ClickHouse since). Unknown or cold users get trending
products from the category they looked at last, topped up with trending
products overall. "Trending" is a time-decayed score of recent views and adds
in ClickHouse (half-life ``SHOPSTREAM_TRENDING_HALF_LIFE_H``), in event time.
The active model is looked up in the registry at most every few seconds and
reloaded when it changes (after training or ``recommender activate``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.client import Client

from models.ecommerce import EventName as E
from models.errors import ShopstreamError
from models.settings import Settings
from recommender.model import TrainedModel
from recommender.registry import ModelRecord, Registry
from sinks.schema import sql_names

REFRESH_S = 5.0

USER_SQL = """
SELECT
    (SELECT argMax(toString(category), event_time) FROM events
     WHERE tenant = {tenant:String} AND user_key = {user:String} AND category != '')
        AS recent_category,
    (SELECT groupArray(product_id) FROM (
        SELECT product_id FROM order_items
        WHERE tenant = {tenant:String} AND user_key = {user:String}
        GROUP BY product_id HAVING sum(sign) > 0)) AS bought
"""

TRENDING_SQL = f"""
WITH (SELECT max(event_time) FROM events WHERE tenant = {{tenant:String}}) AS latest
SELECT product_id,
       sum(if(event = {sql_names(E.PRODUCT_ADDED)}, {{w_add:Float64}}, {{w_view:Float64}})
           * exp2(-dateDiff('second', event_time, latest) / {{half_life_s:Float64}})) AS score
FROM events
WHERE tenant = {{tenant:String}} AND event IN ({sql_names(E.PRODUCT_VIEWED, E.PRODUCT_ADDED)})
  AND product_id != '' AND event_time >= latest - INTERVAL 7 DAY
  AND ({{category:String}} = '' OR category = {{category:String}})
  AND NOT has({{exclude:Array(String)}}, product_id)
GROUP BY product_id
ORDER BY score DESC, product_id
LIMIT {{n:UInt32}}
"""


PRODUCT_SQL = """
SELECT count() > 0, argMax(toString(category), event_time)
FROM events WHERE tenant = {tenant:String} AND product_id = {product:String}
"""


class NotFound(ShopstreamError):
    """The user or product asked about is not known."""


class RecommendationService:
    def __init__(self, database: Callable[[], Client], settings: Settings) -> None:
        self.database, self.settings = database, settings
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[float, ModelRecord | None, TrainedModel | None]] = {}

    def tenant(self, tenant: str | None) -> str:
        return tenant or self.settings.default_tenant

    def model(self, tenant: str) -> tuple[ModelRecord | None, TrainedModel | None]:
        with self._lock:
            checked, record, model = self._loaded.get(tenant, (0.0, None, None))
            if time.monotonic() - checked < REFRESH_S:
                return record, model
            registry = Registry(self.database(), self.settings.model_registry, tenant)
            active = registry.active()
            if active is None:
                record, model = None, None
            elif record is None or record.version != active.version:
                record, model = active, registry.load(active)
            self._loaded[tenant] = (time.monotonic(), record, model)
            return record, model

    def trending(self, tenant: str, n: int, category: str = "",
                 exclude: list[str] | None = None) -> list[tuple[str, float]]:
        s = self.settings
        rows = self.database().query(TRENDING_SQL, parameters={
            "tenant": tenant, "category": category, "exclude": exclude or [], "n": n,
            "w_view": s.reco_weight_view, "w_add": s.reco_weight_add,
            "half_life_s": s.trending_half_life_h * 3600}).result_rows
        return [(str(p), round(float(score), 6)) for p, score in rows]

    def recommend(self, user: str, n: int = 10, tenant: str | None = None) -> dict[str, Any]:
        tenant = self.tenant(tenant)
        n = max(1, min(n, 500))
        record, model = self.model(tenant)
        category, bought = self.database().query(
            USER_SQL, parameters={"tenant": tenant, "user": user}).result_rows[0]
        code = model.user_code(user) if model is not None else None
        answer: dict[str, Any] = {"user": user, "tenant": tenant,
                                  "version": record.version if record else None}
        if model is not None and code is not None:
            extra = [c for c in (model.item_code(p) for p in bought) if c is not None]
            return {**answer, "source": "model",
                    "items": _items(model.recommend(code, n, also_exclude=extra))}
        items = self.trending(tenant, n, category or "", list(bought)) if category else []
        source = f"trending in {category}" if items else "trending"
        if len(items) < n:
            taken = list(bought) + [p for p, _ in items]
            items += self.trending(tenant, n - len(items), "", taken)
        return {**answer, "source": source, "category": category or None, "items": _items(items)}

    def similar(self, product: str, n: int = 10, tenant: str | None = None) -> dict[str, Any]:
        """The model's neighbours; a product the model does not know (or no model yet) gets
        what is trending in its category; a product never seen at all is NotFound."""
        tenant = self.tenant(tenant)
        n = max(1, min(n, 500))
        record, model = self.model(tenant)
        code = model.item_code(product) if model is not None else None
        answer: dict[str, Any] = {"product": product, "tenant": tenant,
                                  "version": record.version if record else None}
        if model is not None and code is not None:
            return {**answer, "source": "model", "items": _items(model.similar(code, n))}
        known, category = self.database().query(
            PRODUCT_SQL, parameters={"tenant": tenant, "product": product}).result_rows[0]
        if not known:
            raise NotFound(f"unknown product {product!r}: no events name it")
        items = self.trending(tenant, n, category, [product]) if category else []
        return {**answer, "source": f"trending in {category}" if category else "trending",
                "items": _items(items or self.trending(tenant, n, "", [product]))}


def _items(pairs: list[tuple[str, float]]) -> list[dict[str, Any]]:
    return [{"product_id": p, "score": round(s, 6)} for p, s in pairs]
