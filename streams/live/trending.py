"""Trending products: an exponentially time-decayed score per product (pure).

Each view, add to cart and purchased line adds its weight; a score halves every
``half_life_ms`` of event time. A product keeps (score, reference time); adding
weight ``w`` at time ``t`` is order-independent:

    t >= ref:  score = score * 2^-((t - ref) / H) + w,  ref = t
    t <  ref:  score = score + w * 2^-((ref - t) / H)

and the score at ``now`` is ``score * 2^-((now - ref) / H)``. Products that decay
below ``floor`` are dropped, so memory stays bounded.

State keys: ``t|<tenant>|<product id>`` -> ``{"s", "ref", "cat"}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.ecommerce import EventName
from streams.live.events import Effects, LiveEvent

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class TrendWeights:
    view: float = 1.0
    add: float = 3.0
    purchase: float = 5.0


@dataclass
class Score:
    score: float
    ref: int
    category: str

    def at(self, now_ms: int, half_life_ms: float) -> float:
        return self.score * 2.0 ** (-(now_ms - self.ref) / half_life_ms)


@dataclass
class Trending:
    half_life_ms: float = 6 * HOUR_MS
    weights: TrendWeights = field(default_factory=TrendWeights)
    floor: float = 0.01
    scores: dict[tuple[str, str], Score] = field(default_factory=dict)

    def restore(self, key: str, value: dict[str, Any]) -> None:
        _, tenant, product = key.split("|", 2)
        self.scores[(tenant, product)] = Score(value["s"], value["ref"], value.get("cat", ""))

    def add(self, tenant: str, product: str, category: str, weight: float, ts: int) -> Score:
        entry = self.scores.get((tenant, product))
        if entry is None:
            entry = Score(weight, ts, category)
        elif ts >= entry.ref:
            entry = Score(entry.at(ts, self.half_life_ms) + weight, ts, category or entry.category)
        else:
            entry = Score(entry.score + weight * 2.0 ** (-(entry.ref - ts) / self.half_life_ms),
                          entry.ref, entry.category or category)
        self.scores[(tenant, product)] = entry
        return entry

    def apply(self, ev: LiveEvent) -> Effects:
        effects = Effects()
        w = self.weights
        if ev.name == EventName.PRODUCT_VIEWED:
            lines = [(ev.props, w.view)]
        elif ev.name == EventName.PRODUCT_ADDED:
            lines = [(ev.props, w.add)]
        elif ev.name == EventName.ORDER_COMPLETED:
            lines = [(p, w.purchase) for p in ev.props.get("products") or []]
        else:
            return effects
        for props, weight in lines:
            product = props.get("product_id")
            if not product or weight <= 0:
                continue
            entry = self.add(ev.tenant, str(product), str(props.get("category") or ""), weight, ev.ts)
            effects.writes[f"t|{ev.tenant}|{product}"] = {"s": entry.score, "ref": entry.ref,
                                                         "cat": entry.category}
        return effects

    def prune(self, now_ms: int) -> Effects:
        effects = Effects()
        for (tenant, product), entry in list(self.scores.items()):
            if entry.at(now_ms, self.half_life_ms) < self.floor:
                del self.scores[(tenant, product)]
                effects.writes[f"t|{tenant}|{product}"] = None
        return effects


def top(books: list[Trending], tenant: str, now_ms: int, n: int,
        category: str | None = None) -> list[dict[str, Any]]:
    """Top ``n`` products of ``tenant`` across partitions' books (scores add up)."""
    totals: dict[str, float] = {}
    categories: dict[str, str] = {}
    for book in books:
        for (t, product), entry in book.scores.items():
            if t != tenant or (category and entry.category != category
                               and not entry.category.startswith(category + ".")):
                continue
            totals[product] = totals.get(product, 0.0) + entry.at(now_ms, book.half_life_ms)
            categories[product] = entry.category
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [{"product_id": p, "score": round(s, 6), "category": categories[p]} for p, s in ranked]
