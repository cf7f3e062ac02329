"""The flat envelope older services send, mapped onto the Segment-style envelope.

``{category, event_type, user_id, session_id, product_id, order_id, order_total,
items_count, payment_method, quantity, price, data, ip_address, user_agent}``.
The mapping is pure: a dict in, a Segment-style dict out; validation follows.
"""

from __future__ import annotations

from typing import Any

# (category, event_type) -> (Segment type, event name)
FLAT_EVENTS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("page", "view"): ("page", None),
    ("search", "query"): ("track", "Products Searched"),
    ("product", "list_view"): ("track", "Product List Viewed"),
    ("product", "click"): ("track", "Product Clicked"),
    ("product", "view"): ("track", "Product Viewed"),
    ("product", "cart_add"): ("track", "Product Added"),
    ("product", "cart_remove"): ("track", "Product Removed"),
    ("product", "review"): ("track", "Product Reviewed"),
    ("cart", "add"): ("track", "Product Added"),
    ("cart", "remove"): ("track", "Product Removed"),
    ("cart", "view"): ("track", "Cart Viewed"),
    ("checkout", "start"): ("track", "Checkout Started"),
    ("checkout", "step"): ("track", "Checkout Step Completed"),
    ("checkout", "payment"): ("track", "Payment Info Entered"),
    ("order", "complete"): ("track", "Order Completed"),
    ("order", "purchase"): ("track", "Order Completed"),
    ("order", "update"): ("track", "Order Updated"),
    ("order", "refund"): ("track", "Order Refunded"),
    ("order", "cancel"): ("track", "Order Cancelled"),
    ("coupon", "apply"): ("track", "Coupon Applied"),
    ("user", "signup"): ("track", "Signed Up"),
    ("user", "login"): ("track", "Logged In"),
}

# flat field -> property name
_PROPERTY_FIELDS = {
    "product_id": "product_id",
    "order_id": "order_id",
    "cart_id": "cart_id",
    "order_total": "total",
    "items_count": "items_count",
    "payment_method": "payment_method",
    "quantity": "quantity",
    "price": "price",
    "currency": "currency",
}


def is_flat(obj: dict[str, Any]) -> bool:
    """A flat event names ``category`` and ``event_type`` and no Segment ``type``."""
    return "event_type" in obj and "category" in obj and "type" not in obj


def flat_to_segment(obj: dict[str, Any]) -> dict[str, Any]:
    """Map a flat event onto a Segment-style dict. Unknown pairs become custom events."""
    category = str(obj.get("category", "")).strip().lower()
    event_type = str(obj.get("event_type", "")).strip().lower()
    call, event = FLAT_EVENTS.get((category, event_type), ("track", f"{category} {event_type}"))

    properties: dict[str, Any] = {}
    data = obj.get("data")
    if isinstance(data, dict):
        properties.update(data)
    for flat_name, prop in _PROPERTY_FIELDS.items():
        if obj.get(flat_name) is not None:
            properties.setdefault(prop, obj[flat_name])

    context: dict[str, Any] = {}
    if obj.get("session_id") is not None:
        context["sessionId"] = obj["session_id"]
    if obj.get("ip_address") is not None:
        context["ip"] = obj["ip_address"]
    if obj.get("user_agent") is not None:
        context["userAgent"] = obj["user_agent"]

    out: dict[str, Any] = {"type": call, "properties": properties, "context": context}
    if event is not None:
        out["event"] = event
    for flat_name, segment_name in (
        ("user_id", "userId"),
        ("anonymous_id", "anonymousId"),
        ("message_id", "messageId"),
        ("event_id", "messageId"),
        ("timestamp", "timestamp"),
        ("tenant", "tenant"),
    ):
        if obj.get(flat_name) is not None:
            out.setdefault(segment_name, obj[flat_name])
    return out
