"""A seeded shop: catalog, shoppers and sessions that drop off along the funnel.

Pure and deterministic: the same :class:`SimConfig` (seed and start time
included) yields the same events, byte for byte. Event ``i`` happens at
``start + i / rate`` seconds of event time; pacing against the wall clock is
the caller's business (``shopstream simulate``).

What it produces: landing pages with UTM campaigns, searches, product views
(power-law popularity, mostly in each shopper's two favourite categories: the
structure a recommender can learn), carts (adds, removes, coupons), checkouts,
orders with consistent totals, refunds and cancellations, abandoned carts of
which some are recovered in a later session, returning customers, identify calls, a share of
sessions that browse anonymously and log in midway (:mod:`streams.sources.logins`), a share
of flat-envelope events, duplicates (same messageId re-sent) and malformed events.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from models.ecommerce import EventName
from models.identity import device_key
from models.money import CENT, round_cents
from models.serde import dumps
from models.times import format_time
from streams.sources.logins import latest_login, logged_in_midway

CATEGORIES = [
    "electronics.smartphone", "electronics.audio.headphone", "computers.notebook",
    "appliances.kitchen.refrigerators", "apparel.shoes", "apparel.jacket",
    "furniture.living_room.sofa", "beauty.skincare", "sport.bicycle", "kids.toys",
    "books.fiction", "home.decor",
]
BRANDS = ["acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne"]
CAMPAIGNS = [
    ({"source": "google", "medium": "cpc", "name": "brand"}, 0.30),
    ({"source": "facebook", "medium": "social", "name": "autumn_sale"}, 0.15),
    ({"source": "newsletter", "medium": "email", "name": "weekly"}, 0.10),
    ({"source": "instagram", "medium": "social", "name": "influencer"}, 0.05),
    (None, 0.40),  # direct
]
COUPONS = {"WELCOME10": Decimal("0.10"), "AUTUMN15": Decimal("0.15")}
# shoppers' browsers (desktop, phones, a tablet) and networks (/24s of known countries in
# geoip2fast's data: US, GB, DE, FR, NL, BR, JP, IN, CA)
SHOPPER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1",
]
SHOPPER_NETWORKS = ["8.8.8", "8.8.8", "8.8.8", "81.2.69", "85.214.132", "90.84.128", "193.0.6",
                    "200.147.67", "133.242.0", "117.239.195", "99.224.0"]
# crawlers and scripts, as they announce themselves; some headless ones put products in carts
BOT_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.109 Safari/537.36",
    "curl/8.4.0",
    "python-requests/2.31.0",
]
TASTE = 0.8  # share of product views from a shopper's two favourite categories


@dataclass(frozen=True)
class SimConfig:
    seed: int = 7
    rate: float = 50.0
    users: int = 2_000
    products: int = 500
    malformed: float = 0.02
    duplicates: float = 0.01
    flat: float = 0.05
    tenant: str | None = None
    currency: str = "USD"
    bots: float = 0.0  # share of sessions that are a crawler's (real crawler user agents)
    anonymous: float = 0.2  # share of shoppers' sessions that start anonymous, then log in
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    category: str
    brand: str
    price: Decimal

    def props(self, quantity: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "product_id": self.product_id, "name": self.name, "category": self.category,
            "brand": self.brand, "price": self.price,
        }
        if quantity is not None:
            out["quantity"] = quantity
        return out


@dataclass(frozen=True)
class SimEvent:
    """One simulated message: ``value`` is bytes (malformed) or an event dict."""

    key: str | None
    value: dict[str, Any] | bytes
    kind: str  # "valid", "duplicate", "malformed"

    def to_bytes(self) -> bytes:
        return self.value if isinstance(self.value, bytes) else dumps(self.value)


def build_catalog(rng: random.Random, n: int) -> tuple[list[Product], list[float]]:
    products = []
    for i in range(n):
        category = CATEGORIES[i % len(CATEGORIES)]
        base = {"electronics": 300, "computers": 700, "appliances": 500, "furniture": 400}.get(
            category.split(".")[0], 40
        )
        price = round_cents(Decimal(str(round(base * rng.lognormvariate(0, 0.5), 2))) + CENT)
        brand = BRANDS[rng.randrange(len(BRANDS))]
        products.append(Product(f"p{i + 1:05d}", f"{brand} {category.split('.')[-1]} {i + 1}",
                                category, brand, price))
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(n)]  # Zipf-like popularity
    return products, weights


class Shop:
    """The simulation state; iterate :meth:`events` for the stream."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.catalog, self.weights = build_catalog(self.rng, config.products)
        self.user_weights = [1.0 / (rank + 1) ** 0.8 for rank in range(config.users)]
        # tastes: each shopper mostly browses two favourite categories
        self.tastes = [self.rng.sample(range(len(CATEGORIES)), 2) for _ in range(config.users)]
        self.by_category: dict[int, tuple[list[Product], list[float]]] = {}
        for index, product in enumerate(self.catalog):
            products, weights = self.by_category.setdefault(CATEGORIES.index(product.category),
                                                            ([], []))
            products.append(product)
            weights.append(self.weights[index])
        self.abandoned: dict[str, dict[str, Any]] = {}  # user -> cart left behind
        self.orders: dict[str, list[dict[str, Any]]] = {}  # user -> orders (for refunds)
        self.known: set[str] = set()
        self.sessions: list[list[dict[str, Any]]] = []
        self.recent: list[dict[str, Any]] = []
        self.counter = 0

    # -- ids -----------------------------------------------------------------
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _products(self, k: int, user: str) -> list[Product]:
        """``k`` products: from the shopper's favourite categories with probability TASTE, else
        (or when a small catalogue has none) from the whole catalogue, by popularity either way."""
        out = []
        for _ in range(k):
            if self.rng.random() < TASTE:
                category = self.rng.choice(self.tastes[int(user[1:]) - 1])
                products, weights = self.by_category.get(category, (self.catalog, self.weights))
                out.append(self.rng.choices(products, weights=weights)[0])
            else:
                out.append(self.rng.choices(self.catalog, weights=self.weights)[0])
        return out

    # -- sessions ------------------------------------------------------------
    def _new_session(self) -> list[dict[str, Any]]:
        rng = self.rng
        if self.config.bots and rng.random() < self.config.bots:
            return self._bot_session()
        user = f"u{rng.choices(range(self.config.users), weights=self.user_weights)[0] + 1:06d}"
        if not (self.config.anonymous and rng.random() < self.config.anonymous):
            return self._shopper_session(user, signs_up=True)
        self.known.add(user)  # a new browser: anonymous until the login's identify call
        steps = self._shopper_session(user, signs_up=False)
        return logged_in_midway(steps, user, self._uuid(), rng.randint(1, latest_login(steps)))

    def _shopper_session(self, user: str, signs_up: bool) -> list[dict[str, Any]]:
        rng = self.rng
        session_id = self._uuid()
        campaign = rng.choices([c for c, _ in CAMPAIGNS], weights=[w for _, w in CAMPAIGNS])[0]
        shopper = int(user[1:])  # a shopper's browser and network stay theirs
        context: dict[str, Any] = {"sessionId": session_id, "locale": "en-US",
                                   "userAgent": SHOPPER_AGENTS[shopper % len(SHOPPER_AGENTS)],
                                   "ip": f"{SHOPPER_NETWORKS[shopper % len(SHOPPER_NETWORKS)]}."
                                         f"{rng.randrange(1, 255)}"}
        if campaign:
            context["campaign"] = dict(campaign)
        steps: list[dict[str, Any]] = []

        def track(event: str, props: dict[str, Any]) -> None:
            steps.append({"type": "track", "event": event, "userId": user,
                          "properties": props, "context": context})

        steps.append({"type": "page", "name": "Home", "userId": user, "context": context,
                      "properties": {"url": "https://shop.example/", "path": "/",
                                     "title": "Home"}})
        if signs_up and user not in self.known and rng.random() < 0.5:
            self.known.add(user)
            track(EventName.SIGNED_UP, {"method": "email"})
            steps.append({"type": "identify", "userId": user, "context": context,
                          "traits": {"email": f"{user}@example.com"}})

        if user in self.abandoned and rng.random() < 0.4:  # comes back for the cart
            cart = self.abandoned.pop(user)
            track(EventName.CART_VIEWED, {"cart_id": cart["cart_id"], "products": cart["products"]})
            self._checkout(track, cart["cart_id"], cart["items"])
            return steps
        if user in self.orders and rng.random() < 0.08:
            order = self.orders[user].pop()
            if not self.orders[user]:
                del self.orders[user]
            event = EventName.ORDER_REFUNDED if rng.random() < 0.7 else EventName.ORDER_CANCELLED
            track(event, {"order_id": order["order_id"], "total": order["total"],
                          "currency": order["currency"], "products": order["products"]})
            return steps

        if rng.random() < 0.35:
            track(EventName.PRODUCTS_SEARCHED, {"query": rng.choice(CATEGORIES).split(".")[-1]})
        viewed = self._products(rng.randint(1, 6), user)
        for product in viewed:
            track(EventName.PRODUCT_VIEWED, {**product.props(), "currency": self.config.currency})
        if rng.random() > 0.30:
            return steps  # dropped off after browsing

        cart_id = f"cart-{session_id[:8]}"
        items: dict[str, tuple[Product, int]] = {}
        for product in rng.sample(viewed, k=min(len(viewed), rng.randint(1, 2))):
            qty = rng.choice([1, 1, 1, 2, 3])
            items[product.product_id] = (product, qty)
            track(EventName.PRODUCT_ADDED, {**product.props(qty), "cart_id": cart_id,
                                    "currency": self.config.currency})
        if len(items) > 1 and rng.random() < 0.15:
            pid = next(iter(items))
            product, qty = items.pop(pid)
            track(EventName.PRODUCT_REMOVED, {**product.props(qty), "cart_id": cart_id,
                                      "currency": self.config.currency})
        if not items or rng.random() > 0.55:
            if items:
                self.abandoned[user] = {
                    "cart_id": cart_id, "items": items,
                    "products": [p.props(q) for p, q in items.values()],
                }
            return steps
        self._checkout(track, cart_id, items)
        return steps

    def _bot_session(self) -> list[dict[str, Any]]:
        """A crawler: anonymous, no session id, reads the home page and products; a third of
        them (headless scripts) put one in a cart and leave it."""
        rng = self.rng
        bot = f"bot-{rng.randrange(1, 100):03d}"
        context = {"userAgent": rng.choice(BOT_AGENTS), "ip": f"66.249.66.{rng.randrange(1, 255)}"}
        steps: list[dict[str, Any]] = [{
            "type": "page", "name": "Home", "anonymousId": bot, "context": context,
            "properties": {"url": "https://shop.example/", "path": "/", "title": "Home"}}]
        viewed = rng.choices(self.catalog, weights=self.weights, k=rng.randint(2, 6))
        steps.extend({"type": "track", "event": EventName.PRODUCT_VIEWED, "anonymousId": bot,
                      "context": context,
                      "properties": {**product.props(), "currency": self.config.currency}}
                     for product in viewed)
        if rng.random() < 1 / 3:
            steps.append({"type": "track", "event": EventName.PRODUCT_ADDED, "anonymousId": bot,
                          "context": context,
                          "properties": {**viewed[0].props(1), "cart_id": f"cart-{self._uuid()[:8]}",
                                         "currency": self.config.currency}})
        return steps

    def _checkout(self, track: Any, cart_id: str, items: dict[str, tuple[Product, int]]) -> None:
        rng = self.rng
        coupon = rng.choice(list(COUPONS)) if rng.random() < 0.2 else None
        rate = COUPONS[coupon] if coupon else Decimal(0)
        lines = []
        subtotal = Decimal(0)
        discount_total = Decimal(0)
        for product, qty in items.values():
            discount = round_cents(product.price * qty * rate)
            line_total = product.price * qty - discount
            subtotal += product.price * qty
            discount_total += discount
            lines.append({**product.props(qty), "discount": discount, "line_total": line_total})
        tax = round_cents((subtotal - discount_total) * Decimal("0.08"))
        shipping = Decimal("0") if subtotal > 50 else Decimal("4.99")
        total = subtotal + tax + shipping - discount_total
        currency = self.config.currency
        basket = {"cart_id": cart_id, "currency": currency, "products": lines}
        if coupon:
            track(EventName.COUPON_APPLIED, {"cart_id": cart_id, "coupon_id": coupon,
                                     "coupon_name": coupon, "discount": discount_total})
        track(EventName.CHECKOUT_STARTED, {**basket, "subtotal": subtotal, "total": total,
                                   "tax": tax, "shipping": shipping, "discount": discount_total})
        track(EventName.CHECKOUT_STEP_COMPLETED, {"step": 1, "shipping_method": "standard"})
        if rng.random() > 0.75:
            return  # left at payment
        track(EventName.PAYMENT_INFO_ENTERED, {"step": 2, "payment_method": rng.choice(["card", "paypal"])})
        order_id = f"o-{self._uuid()[:12]}"
        order = {**basket, "order_id": order_id, "subtotal": subtotal, "tax": tax,
                 "shipping": shipping, "discount": discount_total, "total": total,
                 "revenue": subtotal - discount_total}
        if coupon:
            order["coupon"] = coupon
        track(EventName.ORDER_COMPLETED, order)

    # -- the stream ----------------------------------------------------------
    def _finish(self, step: dict[str, Any], index: int) -> dict[str, Any]:
        event = dict(step)
        event["messageId"] = self._uuid()
        event["timestamp"] = format_time(self.config.start + timedelta(seconds=index / self.config.rate))
        if self.config.tenant:
            event["tenant"] = self.config.tenant
        if event.get("event") == EventName.ORDER_COMPLETED:
            self.orders.setdefault(event["userId"], []).append(event["properties"])
        return event

    def _flatten(self, event: dict[str, Any]) -> dict[str, Any]:
        props = event["properties"]
        return {"category": "product", "event_type": "view", "user_id": event["userId"],
                "session_id": event["context"]["sessionId"], "product_id": props["product_id"],
                "price": props["price"], "message_id": event["messageId"],
                "timestamp": event["timestamp"], "data": {"name": props["name"],
                                                          "category": props["category"]},
                **({"tenant": event["tenant"]} if "tenant" in event else {})}

    def _malformed(self, event: dict[str, Any]) -> SimEvent:
        rng = self.rng
        key = device_key(event.get("userId"), event.get("anonymousId"))
        kind = rng.randrange(6)
        if kind == 0:
            return SimEvent(key, dumps(event)[:-7], "malformed")  # truncated JSON
        if kind == 1:
            return SimEvent(key, b"\xff\xfe" + dumps(event)[2:], "malformed")  # not UTF-8
        broken = {**event, "properties": dict(event.get("properties", {}))}
        if kind == 2:  # nobody
            broken.pop("userId", None)
            broken.pop("anonymousId", None)
        elif kind == 3:
            broken["type"] = "track"
            broken["event"] = EventName.PRODUCT_VIEWED
            broken["properties"] = {"product_id": "p00001", "price": -5}
        elif kind == 4:
            broken["type"] = "track"
            broken["event"] = EventName.ORDER_COMPLETED
            broken["properties"] = {"order_id": "o-broken", "currency": "usd", "products": []}
        else:
            broken["timestamp"] = "not a time"
        return SimEvent(key, broken, "malformed")

    def events(self, count: int | None = None) -> Iterator[SimEvent]:
        rng, cfg = self.rng, self.config
        concurrent = max(4, int(cfg.rate * 20))  # ~20 s between a shopper's clicks
        index = 0
        while count is None or index < count:
            while len(self.sessions) < concurrent:
                self.sessions.append(self._new_session())
            slot = rng.randrange(len(self.sessions))
            session = self.sessions[slot]
            step = session.pop(0)
            if not session:
                self.sessions[slot] = self.sessions[-1]
                self.sessions.pop()
            event = self._finish(step, index)
            index += 1
            roll = rng.random()
            if roll < cfg.malformed:
                yield self._malformed(event)
                continue
            if (event.get("event") == EventName.PRODUCT_VIEWED and rng.random() < cfg.flat
                    and "userId" in event and "anonymousId" not in event):
                yield SimEvent(event["userId"], self._flatten(event), "valid")
            else:
                yield SimEvent(device_key(event.get("userId"), event.get("anonymousId")), event,
                               "valid")
            self.recent.append(event)
            if len(self.recent) > 200:
                self.recent.pop(0)
            if rng.random() < cfg.duplicates:
                again = rng.choice(self.recent)
                yield SimEvent(device_key(again.get("userId"), again.get("anonymousId")), again,
                               "duplicate")


def simulate(config: SimConfig, count: int | None = None) -> Iterator[SimEvent]:
    return Shop(config).events(count)
