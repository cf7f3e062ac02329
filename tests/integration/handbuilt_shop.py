"""A small shop written by hand, with every report figure worked out by hand.

Tenant ``t1``, 2026-03-01 and 2026-04-02 (UTC):

- s1 alice (google / cpc / brand): page "/", views p1, adds p1, applies coupon SAVE5,
  checkout, order o1 = p1 x2 @ 10.00 + p2 x1 @ 5.00; subtotal 25, tax 2, shipping 3,
  discount 5, total 25.00, coupon SAVE5.
- s3 bob (facebook / social / autumn): lands on a product (views p1), adds p1 and p3,
  checkout, order o3 = p1 x1 @ 10.00 + p3 x1 @ 20.00, total 30.00; later that day
  Order Cancelled o3 (total 30.00).
- s4 carol (direct): page "/", adds p3 *before* viewing it (out of funnel order), views p3,
  coupon BAD denied. Abandons.
- s5 anonymous dave (direct): page "/about".
- s2 alice, 2026-04-02 (direct): views p2, adds p2, checkout, order o2 = p2 x1 @ 5.00,
  total 5.00; Order Refunded o1 for p2 x1 (total 5.00).

Tenant ``other`` has one order of 99.00, which no ``t1`` figure may include.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

DAY1 = "2026-03-01T10:{m:02d}:00Z"
DAY2 = "2026-04-02T10:{m:02d}:00Z"
GOOGLE = {"source": "google", "medium": "cpc", "name": "brand"}
FACEBOOK = {"source": "facebook", "medium": "social", "name": "autumn"}


def _event(n: int, when: str, session: str, call: str, event: str | None, props: dict[str, Any],
           user: str | None = None, anonymous: str | None = None,
           campaign: dict[str, str] | None = None, page: dict[str, str] | None = None,
           tenant: str = "t1") -> dict[str, Any]:
    body: dict[str, Any] = {"type": call, "messageId": f"hb-{tenant}-{n:03d}", "timestamp": when,
                            "tenant": tenant, "properties": props,
                            "context": {"sessionId": session}}
    if event:
        body["event"] = event
    if user:
        body["userId"] = user
    if anonymous:
        body["anonymousId"] = anonymous
    if campaign:
        body["context"]["campaign"] = campaign
    if page:
        body["context"]["page"] = page
    return body


def p(pid: str, price: str, qty: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"product_id": pid, "price": price}
    if qty is not None:
        out["quantity"] = qty
        out["line_total"] = str(qty * Decimal(price))
    return out


O1 = {"order_id": "o1", "currency": "USD", "subtotal": "25.00", "tax": "2.00", "shipping": "3.00",
      "discount": "5.00", "total": "25.00", "coupon": "SAVE5",
      "products": [p("p1", "10.00", 2), p("p2", "5.00", 1)]}
O3 = {"order_id": "o3", "currency": "USD", "subtotal": "30.00", "total": "30.00",
      "products": [p("p1", "10.00", 1), p("p3", "20.00", 1)]}
O2 = {"order_id": "o2", "currency": "USD", "subtotal": "5.00", "total": "5.00",
      "products": [p("p2", "5.00", 1)]}


def events() -> list[dict[str, Any]]:
    e = _event
    a, b, c = "alice", "bob", "carol"
    return [without_nulls(x) for x in [
        # s1 alice, google
        e(1, DAY1.format(m=0), "s1", "page", None, {"path": "/", "url": "https://shop/"}, a,
          campaign=GOOGLE, page={"path": "/", "url": "https://shop/"}),
        e(2, DAY1.format(m=1), "s1", "track", "Product Viewed", p("p1", "10.00"), a, campaign=GOOGLE),
        e(3, DAY1.format(m=2), "s1", "track", "Product Added", {**p("p1", "10.00"), "quantity": 2,
          "cart_id": "c1"}, a, campaign=GOOGLE),
        e(4, DAY1.format(m=3), "s1", "track", "Coupon Applied", {"coupon_id": "SAVE5",
          "discount": "5.00"}, a, campaign=GOOGLE),
        e(5, DAY1.format(m=4), "s1", "track", "Checkout Started", {**O1, "order_id": None}, a,
          campaign=GOOGLE),
        e(6, DAY1.format(m=5), "s1", "track", "Order Completed", O1, a, campaign=GOOGLE),
        # s3 bob, facebook: lands on a product page
        e(7, DAY1.format(m=10), "s3", "track", "Product Viewed", p("p1", "10.00"), b,
          campaign=FACEBOOK),
        e(8, DAY1.format(m=11), "s3", "track", "Product Added", {**p("p1", "10.00", 1),
          "cart_id": "c3"}, b, campaign=FACEBOOK),
        e(9, DAY1.format(m=12), "s3", "track", "Product Added", {**p("p3", "20.00", 1),
          "cart_id": "c3"}, b, campaign=FACEBOOK),
        e(10, DAY1.format(m=13), "s3", "track", "Checkout Started", {**O3, "order_id": None}, b),
        e(11, DAY1.format(m=14), "s3", "track", "Order Completed", O3, b),
        e(12, DAY1.format(m=40), "s3", "track", "Order Cancelled", {"order_id": "o3",
          "total": "30.00", "currency": "USD"}, b),
        # s4 carol: add before view, coupon denied
        e(13, DAY1.format(m=20), "s4", "page", None, {"path": "/"}, c, page={"path": "/"}),
        e(14, DAY1.format(m=21), "s4", "track", "Product Added", {**p("p3", "20.00", 1),
          "cart_id": "c4"}, c),
        e(15, DAY1.format(m=22), "s4", "track", "Product Viewed", p("p3", "20.00"), c),
        e(16, DAY1.format(m=23), "s4", "track", "Coupon Denied", {"coupon_id": "BAD",
          "reason": "expired"}, c),
        # s5 dave, anonymous
        e(17, DAY1.format(m=30), "s5", "page", None, {"path": "/about"}, anonymous="anon-dave",
          page={"path": "/about"}),
        # s2 alice, a month later
        e(18, DAY2.format(m=0), "s2", "track", "Product Viewed", p("p2", "5.00"), a),
        e(19, DAY2.format(m=1), "s2", "track", "Product Added", {**p("p2", "5.00", 1),
          "cart_id": "c2"}, a),
        e(20, DAY2.format(m=2), "s2", "track", "Checkout Started", {**O2, "order_id": None}, a),
        e(21, DAY2.format(m=3), "s2", "track", "Order Completed", O2, a),
        e(22, DAY2.format(m=4), "s2", "track", "Order Refunded", {"order_id": "o1", "total": "5.00",
          "currency": "USD", "products": [p("p2", "5.00", 1)]}, a),
        # another tenant
        e(1, DAY1.format(m=0), "x1", "track", "Order Completed", {"order_id": "ox", "total": "99.00",
          "currency": "USD", "products": [p("p1", "99.00", 1)]}, "zed", tenant="other"),
    ]]


def without_nulls(event: dict[str, Any]) -> dict[str, Any]:
    event["properties"] = {k: v for k, v in event["properties"].items() if v is not None}
    return event
