"""Customer triggers (pure): post-purchase follow-ups, win-back, segment changes.

Per buyer (state starts at the first order): orders, net revenue (orders less
refunds and cancellations), first and last order, last seen, segment, and the
post-purchase follow-ups still pending.

- ``post_purchase``: ``post_purchase_after`` (3 days) after an Order Completed,
  unless that order was refunded or cancelled in the meantime.
- ``winback``: a buyer not seen for ``winback_after`` (30 days); once per quiet
  stretch (any event from them re-arms it).
- ``segment_changed``: whenever :func:`models.segments.customer_segment` of the
  buyer's figures changes (new, returning, loyal, frequent buyer, high value).

Revenue follows the ClickHouse definitions (an order's ``total``, else ``revenue``,
else its lines; a refund or cancellation subtracts the amount given back), so the
live segment is the one the ``customers`` report shows.

State keys: ``u|<tenant>|<user>``. A buyer's record stays well under Kafka's message limit
whatever they order: at most :data:`MAX_PENDING` follow-ups pending (the latest orders),
each with its first :data:`MAX_PENDING_PRODUCTS` distinct products.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from models.ecommerce import EventName
from models.segments import SegmentRules, customer_segment
from models.times import ms_to_datetime
from models.triggers import PostPurchase, SegmentChanged, Winback, trigger_id
from streams.live.events import Effects, LiveEvent

DAY_MS = 86_400_000
MAX_PENDING = 20  # post-purchase follow-ups pending per buyer: the latest orders'
MAX_PENDING_PRODUCTS = 20  # products named in one follow-up: the order's first distinct ones


@dataclass
class Pending:
    order_id: str
    ordered_ms: int
    revenue: str
    currency: str
    product_ids: list[str]


@dataclass
class Customer:
    tenant: str
    user_key: str
    user_id: str | None
    anonymous_id: str | None
    orders: int = 0
    revenue: str = "0"
    first_order_ms: int = 0
    last_order_ms: int = 0
    last_seen_ms: int = 0
    segment: str = "new"
    winback_for_ms: int = 0  # last_seen_ms the win-back was sent for
    pending: list[Pending] = field(default_factory=list)

    def mean_gap_days(self) -> float | None:
        if self.orders < 2:
            return None
        return (self.last_order_ms - self.first_order_ms) / DAY_MS / (self.orders - 1)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Customer:
        pending = [Pending(**p) for p in data.get("pending", [])]
        return cls(**{**data, "pending": pending})


def _product_ids(products: Any) -> list[str]:
    """An order's first MAX_PENDING_PRODUCTS distinct product ids, in order."""
    ids: dict[str, None] = {}
    for line in products if isinstance(products, list) else ():
        if isinstance(line, dict) and len(ids) < MAX_PENDING_PRODUCTS:
            ids.setdefault(str(line.get("product_id")), None)
    return list(ids)


@dataclass
class Customers:
    post_purchase_after_ms: int = 3 * DAY_MS
    winback_after_ms: int = 30 * DAY_MS
    rules: SegmentRules = field(default_factory=SegmentRules)
    customers: dict[str, Customer] = field(default_factory=dict)
    _deadlines: list[tuple[int, str]] = field(default_factory=list)
    _winback_armed: set[str] = field(default_factory=set)  # one win-back entry per buyer

    def restore(self, key: str, value: dict[str, Any]) -> None:
        customer = Customer.from_json(dict(value))
        self.customers[key] = customer
        for p in customer.pending:
            heapq.heappush(self._deadlines, (p.ordered_ms + self.post_purchase_after_ms, key))
        self._arm_winback(key, customer)

    def _arm_winback(self, key: str, c: Customer) -> None:
        if c.orders and c.winback_for_ms != c.last_seen_ms and key not in self._winback_armed:
            self._winback_armed.add(key)
            heapq.heappush(self._deadlines, (c.last_seen_ms + self.winback_after_ms, key))

    def apply(self, ev: LiveEvent, wall_ms: int) -> Effects:
        effects = Effects()
        key = f"u|{ev.tenant}|{ev.user_key}"
        c = self.customers.get(key)
        if c is None and ev.name != EventName.ORDER_COMPLETED:
            return effects  # only buyers are followed
        if c is None:
            c = Customer(ev.tenant, ev.user_key, ev.user_id, ev.anonymous_id)
        c.user_id = c.user_id or ev.user_id
        c.last_seen_ms = max(c.last_seen_ms, ev.ts)
        props = ev.props
        if ev.name == EventName.ORDER_COMPLETED:
            revenue = ev.amount
            c.orders += 1
            c.revenue = str(Decimal(c.revenue) + revenue)
            c.first_order_ms = min(c.first_order_ms or ev.ts, ev.ts)
            c.last_order_ms = max(c.last_order_ms, ev.ts)
            c.pending.append(Pending(str(props.get("order_id") or ""), ev.ts, str(revenue),
                                     str(props.get("currency") or "USD"),
                                     _product_ids(props.get("products"))))
            del c.pending[:-MAX_PENDING]
            heapq.heappush(self._deadlines, (ev.ts + self.post_purchase_after_ms, key))
        elif ev.name in (EventName.ORDER_REFUNDED, EventName.ORDER_CANCELLED):
            amount = ev.amount
            c.revenue = str(Decimal(c.revenue) - amount)
            order_id = str(props.get("order_id") or "")
            c.pending = [p for p in c.pending if p.order_id != order_id]
        self._segment(c, ev.ts, wall_ms, effects)
        self.customers[key] = c
        self._arm_winback(key, c)
        effects.writes[key] = c
        return effects

    def _segment(self, c: Customer, ts: int, wall_ms: int, effects: Effects) -> None:
        new = customer_segment(c.orders, Decimal(c.revenue), c.mean_gap_days(), self.rules)
        if new == c.segment:
            return
        effects.triggers.append(SegmentChanged(
            trigger_id=trigger_id("segment_changed", c.tenant, c.user_key, ts, c.segment, new),
            tenant=c.tenant, time=ms_to_datetime(ts), emitted_at=ms_to_datetime(wall_ms), user_id=c.user_id,
            anonymous_id=c.anonymous_id, old_segment=c.segment, new_segment=new,
            orders=c.orders, revenue=Decimal(c.revenue), mean_gap_days=c.mean_gap_days(),
            first_order_at=ms_to_datetime(c.first_order_ms) if c.first_order_ms else None,
            last_order_at=ms_to_datetime(c.last_order_ms) if c.last_order_ms else None))
        c.segment = new

    def due(self, now_ms: int, wall_ms: int) -> Effects:
        effects = Effects()
        while self._deadlines and self._deadlines[0][0] <= now_ms:
            _, key = heapq.heappop(self._deadlines)
            c = self.customers.get(key)
            if c is None:
                continue
            self._winback_armed.discard(key)  # re-armed below if the buyer is still followed
            changed = False
            for p in [p for p in c.pending if p.ordered_ms + self.post_purchase_after_ms <= now_ms]:
                c.pending.remove(p)
                changed = True
                effects.triggers.append(PostPurchase(
                    trigger_id=trigger_id("post_purchase", c.tenant, p.order_id),
                    tenant=c.tenant, time=ms_to_datetime(p.ordered_ms + self.post_purchase_after_ms),
                    emitted_at=ms_to_datetime(wall_ms), user_id=c.user_id, anonymous_id=c.anonymous_id,
                    order_id=p.order_id, ordered_at=ms_to_datetime(p.ordered_ms),
                    days_after=self.post_purchase_after_ms / DAY_MS, revenue=Decimal(p.revenue),
                    currency=p.currency, product_ids=p.product_ids))
            quiet_since = c.last_seen_ms
            if (c.orders and c.winback_for_ms != quiet_since
                    and quiet_since + self.winback_after_ms <= now_ms):
                c.winback_for_ms = quiet_since
                changed = True
                effects.triggers.append(Winback(
                    trigger_id=trigger_id("winback", c.tenant, c.user_key, quiet_since),
                    tenant=c.tenant, time=ms_to_datetime(quiet_since + self.winback_after_ms),
                    emitted_at=ms_to_datetime(wall_ms), user_id=c.user_id, anonymous_id=c.anonymous_id,
                    last_order_at=ms_to_datetime(c.last_order_ms), last_seen_at=ms_to_datetime(quiet_since),
                    days_inactive=round(self.winback_after_ms / DAY_MS, 2), orders=c.orders,
                    revenue=Decimal(c.revenue)))
            if changed:
                effects.writes[key] = c
            self._arm_winback(key, c)
        return effects
