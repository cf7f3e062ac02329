"""The flat envelope older services send, mapped onto the Segment-style envelope.

``{category, event_type, user_id, session_id, product_id, order_id, order_total,
items_count, payment_method, quantity, price, data, ip_address, user_agent}``.
The mapping is pure: a dict in, a Segment-style dict out; validation follows.
"""

from __future__ import annotations

from typing import Any

from models.ecommerce import EventName

# (category, event_type) -> (Segment type, event name)
FLAT_EVENTS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("page", "view"): ("page", None),
    ("search", "query"): ("track", EventName.PRODUCTS_SEARCHED),
    ("product", "list_view"): ("track", EventName.PRODUCT_LIST_VIEWED),
    ("product", "click"): ("track", EventName.PRODUCT_CLICKED),
    ("product", "view"): ("track", EventName.PRODUCT_VIEWED),
    ("product", "cart_add"): ("track", EventName.PRODUCT_ADDED),
    ("product", "cart_remove"): ("track", EventName.PRODUCT_REMOVED),
    ("product", "review"): ("track", EventName.PRODUCT_REVIEWED),
    ("cart", "add"): ("track", EventName.PRODUCT_ADDED),
    ("cart", "remove"): ("track", EventName.PRODUCT_REMOVED),
    ("cart", "view"): ("track", EventName.CART_VIEWED),
    ("checkout", "start"): ("track", EventName.CHECKOUT_STARTED),
    ("checkout", "step"): ("track", EventName.CHECKOUT_STEP_COMPLETED),
    ("checkout", "payment"): ("track", EventName.PAYMENT_INFO_ENTERED),
    ("order", "complete"): ("track", EventName.ORDER_COMPLETED),
    ("order", "purchase"): ("track", EventName.ORDER_COMPLETED),
    ("order", "update"): ("track", EventName.ORDER_UPDATED),
    ("order", "refund"): ("track", EventName.ORDER_REFUNDED),
    ("order", "cancel"): ("track", EventName.ORDER_CANCELLED),
    ("coupon", "apply"): ("track", EventName.COUPON_APPLIED),
    ("user", "signup"): ("track", EventName.SIGNED_UP),
    ("user", "login"): ("track", EventName.LOGGED_IN),
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
