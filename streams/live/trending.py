"""Trending products: an exponentially time-decayed score per product (pure).

Scores are kept by product, not by shopper: the live stage turns each scoring event into
:class:`~streams.live.events.TrendUpdate` records keyed by product (:func:`trend_updates`),
and the trending stage that owns a product's partition keeps its :class:`Trending` book.
Each trending partition publishes its top products per scope (:func:`partial_tops`); the
exact overall top-N is the merge of those (:func:`merge_partials`): a product lives in one
partition, and decay scales every score by the same factor, so the order within a partition
does not depend on the time it is evaluated at.

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

import math
from dataclasses import dataclass, field
from typing import Any

from models.ecommerce import EventName
from streams.live.events import Effects, LiveEvent, TrendUpdate

HOUR_MS = 3_600_000
LN2 = math.log(2)


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

    def apply(self, update: TrendUpdate) -> Effects:
        """Add one update's weight; the state write of the product's new score."""
        entry = self.add(update.tenant, update.product, update.category, update.weight, update.ts)
        return Effects(writes={f"t|{update.tenant}|{update.product}": {
            "s": entry.score, "ref": entry.ref, "cat": entry.category}})

    def prune(self, now_ms: int) -> Effects:
        effects = Effects()
        for (tenant, product), entry in list(self.scores.items()):
            if entry.at(now_ms, self.half_life_ms) < self.floor:
                del self.scores[(tenant, product)]
                effects.writes[f"t|{tenant}|{product}"] = None
        return effects


class TrendBuffer:
    """The live stage's trending updates, coalesced per product until the commit (as the
    write-back cache does for state): the updates a product gets between two commits become
    one, whose weight is their sum decayed to the latest of their times. Adding it to a
    book gives the score adding each would (the rule above composes), so the trending stage
    reads one record per product and commit, not one per event."""

    def __init__(self, half_life_ms: float) -> None:
        self.half_life_ms = half_life_ms
        self._books: dict[int, Trending] = {}  # source partition -> its pending updates

    def add(self, partition: int, updates: list[TrendUpdate]) -> None:
        if not updates:
            return
        book = self._books.get(partition)
        if book is None:
            book = self._books[partition] = Trending(self.half_life_ms, floor=0.0)
        for u in updates:
            book.add(u.tenant, u.product, u.category, u.weight, u.ts)

    def drop(self, partition: int) -> None:
        """Forget a partition's uncommitted updates (given up, or its transaction aborted)."""
        self._books.pop(partition, None)

    def pending(self) -> bool:
        return any(book.scores for book in self._books.values())

    def drain(self) -> list[TrendUpdate]:
        """One update per (tenant, product) changed since the last drain; empties the buffer."""
        out = [TrendUpdate(tenant, product, entry.category, entry.score, entry.ref)
               for book in self._books.values()
               for (tenant, product), entry in book.scores.items()]
        self._books.clear()
        return out


def trend_updates(ev: LiveEvent, w: TrendWeights) -> list[TrendUpdate]:
    """The trending weight an event adds, per product: a view, an add to cart, each
    purchased line."""
    if ev.name == EventName.PRODUCT_VIEWED:
        lines = [(ev.props, w.view)]
    elif ev.name == EventName.PRODUCT_ADDED:
        lines = [(ev.props, w.add)]
    elif ev.name == EventName.ORDER_COMPLETED:
        lines = [(p, w.purchase) for p in ev.props.get("products") or [] if isinstance(p, dict)]
    else:
        return []
    return [TrendUpdate(ev.tenant, str(props["product_id"]), str(props.get("category") or ""),
                        weight, ev.ts)
            for props, weight in lines if props.get("product_id") and weight > 0]


def scopes_of(category: str) -> list[str]:
    """The scopes a product counts in: ``all`` and each level of its category path
    (``shoes``, ``shoes.running``)."""
    parts = [p for p in category.split(".") if p] if category else []
    return ["all", *(f"category:{'.'.join(parts[:i + 1])}" for i in range(len(parts)))]


def partial_tops(book: Trending, n: int) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """This book's top ``n`` products per (tenant, scope), as (score, reference time) so
    that they merge exactly with other partitions' (see :func:`merge_partials`)."""
    by_scope: dict[tuple[str, str], list[tuple[float, str, Score]]] = {}
    for (tenant, product), entry in book.scores.items():
        rank = math.log(entry.score) + entry.ref * LN2 / book.half_life_ms if entry.score > 0 \
            else -math.inf
        for scope in scopes_of(entry.category):
            by_scope.setdefault((tenant, scope), []).append((rank, product, entry))
    return {key: [{"product_id": product, "s": entry.score, "ref": entry.ref,
                   "category": entry.category}
                  for _rank, product, entry in sorted(items, key=lambda x: (-x[0], x[1]))[:n]]
            for key, items in by_scope.items()}


def merge_partials(partials: list[list[dict[str, Any]]], now_ms: int, half_life_ms: float,
                   n: int) -> list[dict[str, Any]]:
    """The overall top ``n`` from every partition's top list of one scope, scored at
    ``now_ms`` (the published shape of ``/trending`` items)."""
    items = [(item["s"] * 2.0 ** (-(now_ms - item["ref"]) / half_life_ms), item["product_id"],
              item["category"]) for partial in partials for item in partial]
    ranked = sorted(items, key=lambda x: (-x[0], x[1]))[:n]
    return [{"product_id": p, "score": round(s, 6), "category": c} for s, p, c in ranked]


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
