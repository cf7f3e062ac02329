"""Answering ``/recommendations/{user}`` and ``/similar/{product}`` from the active model.

Known users get the model's top N, leaving out everything they bought (per the
model's data and per ClickHouse since) unless repeat purchases apply to the model.
Users with one or two interactions get the model's cold start (the content model or
popularity, when the selection found it serves them better). Users the model does not
know get, when its cold start is the content model, products matching what they looked
at (category, brand, price band); otherwise trending products from the category they
looked at last, topped up with trending products overall. "Trending" is a time-decayed
score of recent views and adds in ClickHouse (half-life
``SHOPSTREAM_TRENDING_HALF_LIFE_H``), in event time.

An erased person (``erased(tenant, user)``, the suppression list the worker injects) is
answered as a shopper never seen: no model list, no history read, no A/B variant; their
factors stay in the model files until the next training, which no longer sees them.

During an A/B test (``recommender.experiment``) a stable share of the shoppers get the
version under test and the rest the active model; the answer says which (``variant``).
The registry is looked up at most every few seconds and models are reloaded when they
change (after training, ``recommender activate`` or an A/B test starting).
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
from recommender.ab import CANDIDATE, variant_of
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
        SELECT product_id FROM events
        WHERE tenant = {tenant:String} AND user_key = {user:String} AND product_id != ''
        GROUP BY product_id ORDER BY max(event_time) DESC LIMIT 20)) AS recent_products,
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
  AND product_id != '' AND is_bot = 0 AND event_time >= latest - INTERVAL 7 DAY
  AND ({{category:String}} = '' OR category = {{category:String}})
  AND NOT has({{exclude:Array(String)}}, product_id)
GROUP BY product_id
ORDER BY score DESC, product_id
LIMIT {{n:UInt32}}
"""


PRODUCT_SQL = """
SELECT count() > 0, argMax(toString(category), event_time), argMax(toString(brand), event_time),
       argMaxIf(toFloat64(price), event_time, price > 0)
FROM events WHERE tenant = {tenant:String} AND product_id = {product:String}
"""

Loaded = tuple[ModelRecord | None, TrainedModel | None]
Erased = Callable[[str, str], bool]  # (tenant, user) -> whether the person was erased


class NotFound(ShopstreamError):
    """The user or product asked about is not known."""


class RecommendationService:
    def __init__(self, database: Callable[[], Client], settings: Settings,
                 erased: Erased | None = None) -> None:
        self.database, self.settings = database, settings
        self.erased: Erased = erased or (lambda _tenant, _user: False)
        self._lock = threading.Lock()
        self._checked: dict[str, float] = {}
        self._loaded: dict[tuple[str, str], Loaded] = {}  # (tenant, active|testing)

    def tenant(self, tenant: str | None) -> str:
        return tenant or self.settings.default_tenant

    def model(self, tenant: str, shopper: str | None = None) -> tuple[Loaded, str | None]:
        """The model that serves ``shopper``, and their A/B variant (None: no test runs)."""
        with self._lock:
            if time.monotonic() - self._checked.get(tenant, 0.0) >= REFRESH_S:
                registry = Registry(self.database(), self.settings.model_registry, tenant)
                for role, current in (("active", registry.active()),
                                      ("testing", registry.testing())):
                    self._loaded[(tenant, role)] = self._reload(
                        registry, current, self._loaded.get((tenant, role), (None, None)))
                self._checked[tenant] = time.monotonic()
            active = self._loaded.get((tenant, "active"), (None, None))
            testing = self._loaded.get((tenant, "testing"), (None, None))
        if testing[0] is None or shopper is None:
            return active, None
        share = float(testing[0].params["ab"]["share"])
        variant = variant_of(tenant, testing[0].version, shopper, share)
        return (testing if variant == CANDIDATE else active), variant

    @staticmethod
    def _reload(registry: Registry, current: ModelRecord | None, held: Loaded) -> Loaded:
        if current is None:
            return None, None
        if held[0] is not None and held[0].version == current.version:
            return current, held[1]
        return current, registry.load(current)

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
        erased = self.erased(tenant, user)
        (record, model), variant = self.model(tenant, None if erased else user)
        category, recent, bought = (None, [], []) if erased else self.database().query(
            USER_SQL, parameters={"tenant": tenant, "user": user}).result_rows[0]
        code = model.user_code(user) if model is not None and not erased else None
        answer: dict[str, Any] = {"user": user, "tenant": tenant,
                                  "version": record.version if record else None}
        if variant is not None:
            answer["variant"] = variant
        if model is not None and code is not None:
            extra = [] if model.repeat else [
                c for c in (model.item_code(p) for p in bought) if c is not None]
            source, _scorer = model.scorer_for(code)
            return {**answer, "source": source,
                    "items": _items(model.recommend(code, n, also_exclude=extra))}
        if model is not None and model.cold_start == "content":
            seen = [c for c in (model.item_code(p) for p in recent) if c is not None]
            owned = [c for c in (model.item_code(p) for p in bought) if c is not None]
            items = model.recommend_items(seen, n, also_exclude=owned)
            if items:
                return {**answer, "source": "content", "items": _items(items)}
        items = self.trending(tenant, n, category or "", list(bought)) if category else []
        source = f"trending in {category}" if items else "trending"
        if len(items) < n:
            taken = list(bought) + [p for p, _ in items]
            items += self.trending(tenant, n - len(items), "", taken)
        return {**answer, "source": source, "category": category or None, "items": _items(items)}

    def similar(self, product: str, n: int = 10, tenant: str | None = None) -> dict[str, Any]:
        """The model's neighbours; a product the model does not know gets the model's
        products with the same category, brand or price band (content), or, before any
        model, what is trending in its category; a product never seen at all is NotFound."""
        tenant = self.tenant(tenant)
        n = max(1, min(n, 500))
        (record, model), _variant = self.model(tenant)
        code = model.item_code(product) if model is not None else None
        answer: dict[str, Any] = {"product": product, "tenant": tenant,
                                  "version": record.version if record else None}
        if model is not None and code is not None:
            return {**answer, "source": "model", "items": _items(model.similar(code, n))}
        known, category, brand, price = self.database().query(
            PRODUCT_SQL, parameters={"tenant": tenant, "product": product}).result_rows[0]
        if not known:
            raise NotFound(f"unknown product {product!r}: no events name it")
        if model is not None:
            matches = model.similar_by_attributes(category, brand, float(price or 0.0), n)
            if matches:
                return {**answer, "source": "content", "items": _items(matches)}
        items = self.trending(tenant, n, category, [product]) if category else []
        return {**answer, "source": f"trending in {category}" if category else "trending",
                "items": _items(items or self.trending(tenant, n, "", [product]))}


def _items(pairs: list[tuple[str, float]]) -> list[dict[str, Any]]:
    return [{"product_id": p, "score": round(s, 6)} for p, s in pairs]
