"""Carts and their abandonment (pure).

Per cart: items, quantities, value, currency, shopper, session, first and last
activity. A cart with no checkout or order within ``abandon_after`` of its last
activity is abandoned: one ``Cart Abandoned`` trigger, the cart is closed, and
an abandonment record waits ``recovery_window`` for an order from that cart or
that shopper, which gives one ``Cart Recovered``. A cart that is emptied, or
reaches checkout or an order, is closed without a trigger. Cart activity older
than the allowed lateness is counted as late and not merged.

A cart follows its shopper across a login: a cart sent without a ``cart_id`` is the
device's (``user:<anonymousId>``, else ``user:<user id>``; an open cart under the person's
key is continued), a cart started anonymously gets the user id when its anonymous id is
linked (:meth:`CartBook.identified`), and a checkout or order without a ``cart_id`` closes
(or recovers) the carts of the same shopper: the same person, user id or anonymous id.

State keys: ``c|<tenant>|<cart id>`` (open carts), ``a|<tenant>|<cart id>``
(abandonments awaiting recovery).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from models.durations import spell
from models.ecommerce import EventName
from models.money import money_or_zero
from models.times import ms_to_datetime
from models.triggers import CartAbandoned, CartItem, CartRecovered, trigger_id
from streams.live.events import Effects, LiveEvent

ACTIVITY = {EventName.PRODUCT_ADDED, EventName.PRODUCT_REMOVED, EventName.CART_VIEWED}
CLOSING = {EventName.CHECKOUT_STARTED, EventName.ORDER_COMPLETED}
MINUTE_MS = 60_000
# a cart keeps its first 100 distinct products: its state record and its trigger stay far
# below Kafka's message limit whatever shoppers send (further products are not itemised)
MAX_CART_LINES = 100


@dataclass
class Line:
    product_id: str
    name: str | None
    category: str | None
    quantity: int
    unit_price: str  # Decimal as text (JSON state)


def same_shopper(ev: LiveEvent, user_key: str, user_id: str | None,
                 anonymous_id: str | None) -> bool:
    """Whether ``ev`` (resolved) is from the shopper of a cart or an abandonment."""
    return (user_key == ev.user_key or (user_id is not None and user_id == ev.user_id)
            or (anonymous_id is not None and anonymous_id == ev.anonymous_id))


@dataclass
class Cart:
    tenant: str
    cart_id: str
    user_key: str
    user_id: str | None
    anonymous_id: str | None
    session_id: str | None
    currency: str
    first_ms: int
    last_ms: int
    lines: dict[str, Line] = field(default_factory=dict)

    def value(self) -> Decimal:
        return sum((Decimal(line.unit_price) * line.quantity for line in self.lines.values()),
                   Decimal(0))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cart:
        lines = {pid: Line(**line) for pid, line in data.pop("lines").items()}
        return cls(**data, lines=lines)


@dataclass
class Abandonment:
    tenant: str
    cart_id: str
    user_key: str
    user_id: str | None
    anonymous_id: str | None
    trigger_id: str
    abandoned_ms: int
    currency: str


@dataclass
class CartBook:
    """The carts of one partition."""

    abandon_after_ms: int = 30 * MINUTE_MS
    recovery_window_ms: int = 7 * 86_400_000
    carts: dict[str, Cart] = field(default_factory=dict)
    abandoned: dict[str, Abandonment] = field(default_factory=dict)
    late_events: int = 0
    late_by_tenant: dict[str, int] = field(default_factory=dict)
    _deadlines: list[tuple[int, str]] = field(default_factory=list)

    # -- state ---------------------------------------------------------------------------
    def restore(self, key: str, value: dict[str, Any]) -> None:
        kind = key[0]
        if kind == "c":
            cart = Cart.from_json(dict(value))
            self.carts[key] = cart
            heapq.heappush(self._deadlines, (cart.last_ms + self.abandon_after_ms, key))
        elif kind == "a":
            self.abandoned[key] = Abandonment(**value)
            heapq.heappush(self._deadlines, (value["abandoned_ms"] + self.recovery_window_ms, key))

    def _save(self, effects: Effects, key: str, cart: Cart | None) -> None:
        if cart is None:
            self.carts.pop(key, None)
            effects.writes[key] = None
        else:
            self.carts[key] = cart
            effects.writes[key] = cart
            heapq.heappush(self._deadlines, (cart.last_ms + self.abandon_after_ms, key))

    # -- events --------------------------------------------------------------------------
    def apply(self, ev: LiveEvent, late: bool, wall_ms: int) -> Effects:
        effects = Effects()
        if ev.name in ACTIVITY:
            if late:
                self.late_events += 1
                self.late_by_tenant[ev.tenant] = self.late_by_tenant.get(ev.tenant, 0) + 1
                return effects
            self._activity(ev, effects)
        elif ev.name in CLOSING:
            self._close(ev, effects)
            if ev.name == EventName.ORDER_COMPLETED:
                self._recover(ev, effects, wall_ms)
        return effects

    def _activity(self, ev: LiveEvent, effects: Effects) -> None:
        props = ev.props
        key = self._cart_key(ev)
        cart = self.carts.get(key)
        pid = props.get("product_id")
        if cart is None and not (ev.name == EventName.PRODUCT_ADDED and pid):
            return  # only a product put in opens a cart: a view or a removal of none is no cart
        if cart is None:
            cart = Cart(ev.tenant, key.split("|", 2)[2], ev.user_key, ev.user_id, ev.anonymous_id,
                        ev.session_id, str(props.get("currency") or "USD"), ev.ts, ev.ts)
        cart.user_id = ev.user_id or cart.user_id
        cart.first_ms, cart.last_ms = min(cart.first_ms, ev.ts), max(cart.last_ms, ev.ts)
        cart.session_id = ev.session_id or cart.session_id
        if ev.name == EventName.PRODUCT_ADDED and pid and (
                str(pid) in cart.lines or len(cart.lines) < MAX_CART_LINES):
            line = cart.lines.get(pid) or Line(str(pid), props.get("name"), props.get("category"),
                                               0, str(money_or_zero(props.get("price"))))
            line.quantity += int(props.get("quantity") or 1)
            if props.get("price"):
                line.unit_price = str(money_or_zero(props.get("price")))
            cart.lines[str(pid)] = line
            cart.currency = str(props.get("currency") or cart.currency)
        elif ev.name == EventName.PRODUCT_REMOVED and pid in cart.lines:
            line = cart.lines[pid]
            line.quantity -= int(props.get("quantity") or line.quantity)
            if line.quantity <= 0:
                del cart.lines[pid]
            if not cart.lines:  # emptied: closed, never abandoned
                self._save(effects, key, None)
                return
        self._save(effects, key, cart)

    def _cart_key(self, ev: LiveEvent) -> str:
        """The state key of the cart an activity names: its ``cart_id``, else the device's
        cart, else an open cart under the person's key (started before this device key
        rule, or by the same person on this partition)."""
        cart_id = ev.props.get("cart_id")
        if cart_id:
            return f"c|{ev.tenant}|{cart_id}"
        device = f"c|{ev.tenant}|user:{ev.device}"
        person = f"c|{ev.tenant}|user:{ev.user_key}"
        return person if device not in self.carts and person in self.carts else device

    def identified(self, tenant: str, anonymous_id: str, user_id: str) -> Effects:
        """An anonymous id was linked to a user: its open carts and abandonments that have
        no user id take this one (once per new link: a scan of the partition's carts)."""
        effects = Effects()
        for key, cart in self.carts.items():
            if cart.tenant == tenant and cart.anonymous_id == anonymous_id and not cart.user_id:
                cart.user_id = user_id
                effects.writes[key] = cart
        for key, record in self.abandoned.items():
            if (record.tenant == tenant and record.anonymous_id == anonymous_id
                    and not record.user_id):
                record.user_id = user_id
                effects.writes[key] = record
        return effects

    def _close(self, ev: LiveEvent, effects: Effects) -> None:
        cart_id = ev.props.get("cart_id")
        if cart_id:
            keys = [f"c|{ev.tenant}|{cart_id}"]
        else:  # no cart named: every open cart of this shopper
            keys = [k for k, c in self.carts.items() if c.tenant == ev.tenant
                    and same_shopper(ev, c.user_key, c.user_id, c.anonymous_id)]
        for key in keys:
            if key in self.carts:
                self._save(effects, key, None)

    def _recover(self, ev: LiveEvent, effects: Effects, wall_ms: int) -> None:
        cart_id = ev.props.get("cart_id")
        exact = f"a|{ev.tenant}|{cart_id}" if cart_id else None
        candidates = [k for k, a in self.abandoned.items()
                      if a.tenant == ev.tenant and a.abandoned_ms <= ev.ts
                      and ev.ts - a.abandoned_ms <= self.recovery_window_ms
                      and (k == exact or same_shopper(ev, a.user_key, a.user_id, a.anonymous_id))]
        if not candidates:
            return
        key = exact if exact in candidates else max(candidates,
                                                    key=lambda k: self.abandoned[k].abandoned_ms)
        record = self.abandoned.pop(key)
        effects.writes[key] = None
        order_id = str(ev.props.get("order_id") or "")
        revenue = ev.amount
        effects.triggers.append(CartRecovered(
            trigger_id=trigger_id("cart_recovered", record.trigger_id, order_id),
            tenant=ev.tenant, time=ms_to_datetime(ev.ts), emitted_at=ms_to_datetime(wall_ms),
            user_id=record.user_id, anonymous_id=record.anonymous_id, cart_id=record.cart_id,
            order_id=order_id, recovered_revenue=revenue,
            currency=str(ev.props.get("currency") or record.currency),
            minutes_since_abandonment=round((ev.ts - record.abandoned_ms) / MINUTE_MS, 2),
            abandoned_trigger_id=record.trigger_id, abandoned_at=ms_to_datetime(record.abandoned_ms)))

    # -- time ----------------------------------------------------------------------------
    def due(self, now_ms: int, wall_ms: int) -> Effects:
        """Abandon carts whose deadline passed; forget abandonments past recovery."""
        effects = Effects()
        while self._deadlines and self._deadlines[0][0] <= now_ms:
            deadline, key = heapq.heappop(self._deadlines)
            if key in self.carts:
                cart = self.carts[key]
                if cart.last_ms + self.abandon_after_ms != deadline:
                    continue  # activity moved this cart's deadline; a later entry holds it
                self._abandon(key, cart, effects, wall_ms)
            elif key in self.abandoned:
                record = self.abandoned[key]
                if record.abandoned_ms + self.recovery_window_ms == deadline:
                    del self.abandoned[key]
                    effects.writes[key] = None
        return effects

    def _abandon(self, key: str, cart: Cart, effects: Effects, wall_ms: int) -> None:
        abandoned_ms = cart.last_ms + self.abandon_after_ms
        tid = trigger_id("cart_abandoned", cart.tenant, cart.cart_id, cart.last_ms)
        items = [CartItem(product_id=line.product_id, name=line.name, category=line.category,
                          quantity=line.quantity, unit_price=Decimal(line.unit_price),
                          line_total=Decimal(line.unit_price) * line.quantity)
                 for line in cart.lines.values()]
        effects.triggers.append(CartAbandoned(
            trigger_id=tid, tenant=cart.tenant, time=ms_to_datetime(abandoned_ms),
            emitted_at=ms_to_datetime(wall_ms), user_id=cart.user_id, anonymous_id=cart.anonymous_id,
            cart_id=cart.cart_id, session_id=cart.session_id,
            total_items=sum(line.quantity for line in cart.lines.values()),
            total_value=cart.value(), currency=cart.currency,
            cart_duration_minutes=round((cart.last_ms - cart.first_ms) / MINUTE_MS, 2),
            items=items, categories=sorted({line.category for line in cart.lines.values()
                                             if line.category}),
            reason=f"no checkout or order within {spell(self.abandon_after_ms)} of the last "
                   "cart activity",
            first_activity_at=ms_to_datetime(cart.first_ms), last_activity_at=ms_to_datetime(cart.last_ms),
            abandoned_at=ms_to_datetime(abandoned_ms)))
        del self.carts[key]
        effects.writes[key] = None
        record = Abandonment(cart.tenant, cart.cart_id, cart.user_key, cart.user_id,
                             cart.anonymous_id, tid, abandoned_ms, cart.currency)
        akey = f"a|{cart.tenant}|{cart.cart_id}"
        self.abandoned[akey] = record
        effects.writes[akey] = record
        heapq.heappush(self._deadlines, (abandoned_ms + self.recovery_window_ms, akey))
