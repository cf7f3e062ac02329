"""Payloads shops already send, mapped onto the contract through one alias table.

Two shapes are recognised before validation:

- the **flat envelope** older services send: ``{category, event_type, user_id, session_id,
  product_id, order_id, order_total, items_count, payment_method, quantity, price, data,
  ip_address, user_agent}``; ``(category, event_type)`` names the call and the event;
- **Segment-style events under other names and fields**, as notebooks and hand-written
  integrations send them: ``"Product Added to Cart"`` with ``unit_price``, or
  ``Order Completed`` with ``total_amount``, ``tax_amount`` and products carrying
  ``unit_price`` and ``total_price``.

:class:`AliasTable` holds every mapping (flat pairs, event names, property names at the
order level and on product lines); :data:`DEFAULT_ALIASES` is the documented table, and a
JSON file merges into it (``SHOPSTREAM_EVENT_ALIASES``). The mapping is pure: a dict in,
a Segment-style dict out; validation follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from models.ecommerce import EventName
from models.errors import ConfigurationError

PAGE = "page"  # a flat pair that becomes a ``page`` call, not a track event

# (category, event_type) -> event name, or PAGE. Each family of flat types (product/*,
# order/*, user/*) has one type that becomes Order Completed, so revenue counts once per order.
FLAT_EVENTS: dict[tuple[str, str], str] = {
    ("page", "view"): PAGE,
    ("search", "query"): EventName.PRODUCTS_SEARCHED,
    ("product", "list_view"): EventName.PRODUCT_LIST_VIEWED,
    ("product", "click"): EventName.PRODUCT_CLICKED,
    ("product", "view"): EventName.PRODUCT_VIEWED,
    ("product", "cart_add"): EventName.PRODUCT_ADDED,
    ("product", "cart_remove"): EventName.PRODUCT_REMOVED,
    ("product", "review"): EventName.PRODUCT_REVIEWED,
    ("product", "purchase"): EventName.ORDER_COMPLETED,
    ("product", "wishlist_add"): "Product Added to Wishlist",
    ("cart", "add"): EventName.PRODUCT_ADDED,
    ("cart", "remove"): EventName.PRODUCT_REMOVED,
    ("cart", "view"): EventName.CART_VIEWED,
    ("checkout", "start"): EventName.CHECKOUT_STARTED,
    ("checkout", "step"): EventName.CHECKOUT_STEP_COMPLETED,
    ("checkout", "payment"): EventName.PAYMENT_INFO_ENTERED,
    ("order", "complete"): EventName.ORDER_COMPLETED,
    ("order", "purchase"): EventName.ORDER_COMPLETED,
    ("order", "created"): EventName.ORDER_COMPLETED,
    ("order", "payment_started"): EventName.PAYMENT_INFO_ENTERED,
    ("order", "payment_completed"): EventName.CHECKOUT_STEP_COMPLETED,
    ("order", "confirmed"): "Order Confirmed",
    ("order", "shipped"): "Order Shipped",
    ("order", "delivered"): "Order Delivered",
    ("order", "update"): EventName.ORDER_UPDATED,
    ("order", "refund"): EventName.ORDER_REFUNDED,
    ("order", "cancel"): EventName.ORDER_CANCELLED,
    ("order", "cancelled"): EventName.ORDER_CANCELLED,
    ("coupon", "apply"): EventName.COUPON_APPLIED,
    ("user", "signup"): EventName.SIGNED_UP,
    ("user", "registration"): EventName.SIGNED_UP,
    ("user", "login"): EventName.LOGGED_IN,
    ("user", "page_view"): PAGE,
    ("user", "product_view"): EventName.PRODUCT_VIEWED,
    ("user", "search"): EventName.PRODUCTS_SEARCHED,
    ("user", "add_to_cart"): EventName.PRODUCT_ADDED,
    ("user", "checkout_start"): EventName.CHECKOUT_STARTED,
    ("user", "checkout_complete"): EventName.ORDER_COMPLETED,
}

# other Segment call types -> the contract's (a mobile screen view is a page view)
CALLS: dict[str, str] = {"screen": "page"}

# other names of track events (matched without regard to case) -> the contract's name
EVENT_NAMES: dict[str, str] = {
    "Product Added to Cart": EventName.PRODUCT_ADDED,
    "Product Removed from Cart": EventName.PRODUCT_REMOVED,
    "Order Placed": EventName.ORDER_COMPLETED,
}

# other names of properties (and flat top-level fields) -> the contract's name
PROPERTIES: dict[str, str] = {
    "unit_price": "price",
    "order_total": "total",
    "total_amount": "total",
    "subtotal_amount": "subtotal",
    "tax_amount": "tax",
    "shipping_amount": "shipping",
    "discount_amount": "discount",
    "search_query": "query",
}

# other names of a product line's fields (in ``products``) -> the contract's name
PRODUCT_PROPERTIES: dict[str, str] = {
    "unit_price": "price",
    "total_price": "line_total",
    "discount_amount": "discount",
}

# flat top-level fields copied into the properties (after PROPERTIES renames them)
_FLAT_PROPERTY_FIELDS = ("product_id", "order_id", "cart_id", "order_total", "items_count",
                         "payment_method", "quantity", "price", "currency", "query",
                         "search_query")
_FLAT_ENVELOPE_FIELDS = (("user_id", "userId"), ("anonymous_id", "anonymousId"),
                         ("message_id", "messageId"), ("event_id", "messageId"),
                         ("timestamp", "timestamp"), ("received_at", "receivedAt"),
                         ("tenant", "tenant"))
_ORDER_EVENTS = {EventName.ORDER_COMPLETED, EventName.ORDER_UPDATED}
_FLAT_CONTEXT_FIELDS = {"session_id": "sessionId", "ip_address": "ip", "user_agent": "userAgent"}
# every field of the flat envelope with a place of its own; any other one is a property
_FLAT_PLACED = {"category", "event_type", "data", *_FLAT_PROPERTY_FIELDS, *_FLAT_CONTEXT_FIELDS,
                *(flat for flat, _ in _FLAT_ENVELOPE_FIELDS)}


class AliasFileError(ConfigurationError, ValueError):
    """An alias file that cannot be used; the message says why."""


@dataclass(frozen=True)
class AliasTable:
    """Every alias, in one place. ``flat_events`` keys are ``(category, event_type)`` in lower
    case; ``event_names`` keys are matched without regard to case."""

    flat_events: Mapping[tuple[str, str], str] = field(default_factory=lambda: dict(FLAT_EVENTS))
    calls: Mapping[str, str] = field(default_factory=lambda: dict(CALLS))
    event_names: Mapping[str, str] = field(default_factory=lambda: dict(EVENT_NAMES))
    properties: Mapping[str, str] = field(default_factory=lambda: dict(PROPERTIES))
    product_properties: Mapping[str, str] = field(
        default_factory=lambda: dict(PRODUCT_PROPERTIES))
    _names_folded: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        folded = {name.strip().casefold(): target for name, target in self.event_names.items()}
        object.__setattr__(self, "_names_folded", folded)

    def event_name(self, name: str) -> str:
        """The contract's name for a track event's name (itself when it has no alias)."""
        return self._names_folded.get(name.strip().casefold(), name)

    def merged(self, extra: Mapping[str, Any]) -> AliasTable:
        """This table with a JSON object's entries added (they win over the defaults):
        ``{"flat": {"category/event_type": "Event Name" | "page"}, "events": {...},
        "properties": {...}, "product_properties": {...}}``."""
        unknown = set(extra) - {"flat", "events", "properties", "product_properties"}
        if unknown:
            raise AliasFileError(f"unknown section(s) {sorted(unknown)}; use flat, events, "
                                 "properties, product_properties")
        sections = {name: _string_map(extra.get(name, {}), name) for name in
                    ("flat", "events", "properties", "product_properties")}
        flat = dict(self.flat_events)
        for pair, target in sections["flat"].items():
            category, slash, event_type = pair.partition("/")
            if not slash or not category.strip() or not event_type.strip():
                raise AliasFileError(f"flat alias {pair!r} is not 'category/event_type'")
            flat[(category.strip().lower(), event_type.strip().lower())] = target
        return AliasTable(flat, self.calls, {**self.event_names, **sections["events"]},
                          {**self.properties, **sections["properties"]},
                          {**self.product_properties, **sections["product_properties"]})

    @classmethod
    def from_file(cls, path: Path) -> AliasTable:
        """The default table with a JSON alias file merged in."""
        try:
            extra = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise AliasFileError(f"cannot read the alias file {path}: {exc.strerror}") from exc
        except orjson.JSONDecodeError as exc:
            raise AliasFileError(f"the alias file {path} is not JSON: {exc}") from exc
        if not isinstance(extra, dict):
            raise AliasFileError(f"the alias file {path} must hold a JSON object")
        return cls().merged(extra)


def _string_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()):
        raise AliasFileError(f"section {name!r} must map names to non-empty names")
    return {k: v.strip() for k, v in value.items()}


DEFAULT_ALIASES = AliasTable()


def is_flat(obj: dict[str, Any]) -> bool:
    """A flat event names ``category`` and ``event_type`` and no Segment ``type``."""
    return "event_type" in obj and "category" in obj and "type" not in obj


def _renamed(fields: dict[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    """``fields`` with aliased keys under the contract's names; a key the contract's name
    already holds is left as sent. The same dict when nothing is renamed."""
    found = [alias for alias in aliases if alias in fields and aliases[alias] not in fields]
    if not found:
        return fields
    out = dict(fields)
    for alias in found:
        out.setdefault(aliases[alias], out.pop(alias))
    return out


def _canonical_properties(props: dict[str, Any], table: AliasTable) -> dict[str, Any]:
    props = _renamed(props, table.properties)
    products = props.get("products")
    if isinstance(products, list) and any(isinstance(p, dict) for p in products):
        lines = [_renamed(p, table.product_properties) if isinstance(p, dict) else p
                 for p in products]
        if any(new is not old for new, old in zip(lines, products, strict=True)):
            props = {**props, "products": lines}
    return props


def flat_to_segment(obj: dict[str, Any], table: AliasTable = DEFAULT_ALIASES) -> dict[str, Any]:
    """Map a flat event onto a Segment-style dict. Unknown pairs become custom events
    named ``"<category> <event_type>"``."""
    category = str(obj.get("category", "")).strip().lower()
    event_type = str(obj.get("event_type", "")).strip().lower()
    event = table.flat_events.get((category, event_type), f"{category} {event_type}")

    properties: dict[str, Any] = {}
    data = obj.get("data")
    if isinstance(data, dict):
        properties.update(data)
    for flat_name in _FLAT_PROPERTY_FIELDS:
        if obj.get(flat_name) is not None:
            properties.setdefault(table.properties.get(flat_name, flat_name), obj[flat_name])
    for name, value in obj.items():  # fields of the shop's own: kept, as extra properties are
        if name not in _FLAT_PLACED and value is not None:
            properties.setdefault(name, value)

    context = {segment_name: obj[flat_name] for flat_name, segment_name in
               _FLAT_CONTEXT_FIELDS.items() if obj.get(flat_name) is not None}

    out: dict[str, Any] = {"type": "page" if event == PAGE else "track", "context": context}
    if event != PAGE:
        out["event"] = event
    properties = _canonical_properties(properties, table)
    if event in _ORDER_EVENTS and properties.get("product_id") is not None \
            and not properties.get("products"):
        # a one-line order sent as one product's fields (product/purchase)
        properties["products"] = [{k: properties[k] for k in ("product_id", "price", "quantity")
                                   if k in properties}]
    out["properties"] = properties
    for flat_name, segment_name in _FLAT_ENVELOPE_FIELDS:
        if obj.get(flat_name) is not None:
            out.setdefault(segment_name, obj[flat_name])
    return out


def to_contract_names(obj: dict[str, Any], table: AliasTable = DEFAULT_ALIASES) -> dict[str, Any]:
    """Any accepted payload (flat or Segment-style) as a Segment-style dict with the
    contract's event and property names; a new dict, ``obj`` is left as it is."""
    if is_flat(obj):
        return flat_to_segment(obj, table)
    data = dict(obj)
    call = data.get("type")
    if isinstance(call, str) and call in table.calls:
        data["type"] = table.calls[call]
    event = data.get("event")
    if data.get("type") == "track" and isinstance(event, str):
        data["event"] = event = table.event_name(event)
    props = data.get("properties")
    if isinstance(props, dict):
        data["properties"] = _canonical_properties(props, table)
    return data
