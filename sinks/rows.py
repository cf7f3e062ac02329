"""Canonical events -> ClickHouse rows. Pure: a dict in, tuples out.

Definitions that reports rely on (also in the README):

- ``revenue`` of Order Completed is the order ``total``; without a total it is
  ``revenue``, else the sum of its lines (price x quantity - discount).
- ``revenue`` of Order Refunded / Cancelled is the amount given back: its
  ``total``, else the sum of the lines it names, else 0.
- ``session_id`` is the context session id; without one, the user's 30-minute
  bucket of event time (``<user>:<bucket>``), which marks "no session id sent" and is
  *not* the session: sessions follow ``models/funnel.py`` and are computed from the
  events by the ``session_events`` view (``sinks/schema.py``, migration 6), which
  recognises this id. Kept as it was so that stored rows and rollups keep their meaning.
- ``users`` gets one row per identify call that names a user (migration 12,
  ``sinks/schema/identity.py``): its traits (the only table that holds them; ``events``
  keeps neither the call's ``traits`` nor ``context.traits``) and their contact fields.
- ``order_items`` gets one row per product line of Order Completed (sign +1)
  and Order Refunded (sign -1); a line total absent from the event is
  quantity x price - discount.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from models.ecommerce import EventName
from models.enrichment import ENRICHMENT_KEY
from models.enrichment import FIELDS as ENRICHMENT_FIELDS
from models.envelope import name_of
from models.funnel import IDENTIFY_CALL
from models.identity import contact_traits
from models.money import money_or_zero
from models.orders import line_total, order_amount
from models.serde import dumps
from models.times import parse_iso

SESSION_BUCKET_S = 30 * 60
# from the validation stage's enrichment (models/enrichment), migration 9; empty / 0 without one
ENRICHED_COLUMNS = ENRICHMENT_FIELDS

EVENT_COLUMNS = (
    "tenant", "event_id", "type", "event", "event_time", "received_at", "user_id",
    "anonymous_id", "user_key", "session_id", "product_id", "cart_id", "order_id", "revenue",
    "value", "discount", "currency", "quantity", "price", "category", "brand", "coupon",
    "utm_source", "utm_medium", "utm_campaign", "page_url", "page_path", "referrer",
    "properties", "context",
    *ENRICHED_COLUMNS,
    "previous_id", "group_id",  # alias and group calls (migration 10)
)
ITEM_COLUMNS = (
    "tenant", "event_id", "line", "event", "sign", "event_time", "order_id", "user_key",
    "product_id", "category", "brand", "quantity", "price", "discount", "line_total", "currency",
)
USER_COLUMNS = ("tenant", "user_id", "anonymous_id", "traits", "email", "phone", "name",
                "updated_at")
ORDER_EVENTS = {EventName.ORDER_COMPLETED, EventName.ORDER_REFUNDED, EventName.ORDER_CANCELLED}
ITEM_SIGNS: dict[str, int] = {EventName.ORDER_COMPLETED: 1, EventName.ORDER_REFUNDED: -1}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def session_id_for(context: dict[str, Any], user_key: str, event_time: datetime) -> str:
    session = context.get("sessionId")
    if session:
        return str(session)
    return f"{user_key}:{int(event_time.timestamp()) // SESSION_BUCKET_S}"


def event_row(event: dict[str, Any]) -> tuple[Any, ...]:
    props: dict[str, Any] = event.get("properties") or {}
    context: dict[str, Any] = event.get("context") or {}
    name = name_of(event)
    event_time = parse_iso(event["timestamp"])
    user_key = _text(event.get("userId") or event.get("anonymousId"))
    campaign = context.get("campaign") or {}
    page = context.get("page") or {}
    products = props.get("products") or []
    if name in ORDER_EVENTS:
        revenue = order_amount(str(name), props)
        quantity = sum(int(p.get("quantity") or 1) for p in products)
    else:
        revenue = money_or_zero(props.get("revenue"))
        quantity = int(props.get("quantity") or 0)
    coupon = props.get("coupon") or props.get("coupon_id") or props.get("coupon_name")
    return (
        event["tenant"],
        event["messageId"],
        event["type"],
        _text(name),
        event_time,
        parse_iso(event["receivedAt"]) if event.get("receivedAt") else event_time,
        _text(event.get("userId")),
        _text(event.get("anonymousId")),
        user_key,
        session_id_for(context, user_key, event_time),
        _text(props.get("product_id")),
        _text(props.get("cart_id")),
        _text(props.get("order_id")),
        revenue,
        money_or_zero(props.get("value")),
        money_or_zero(props.get("discount")),
        _text(props.get("currency")),
        quantity,
        money_or_zero(props.get("price")),
        _text(props.get("category")),
        _text(props.get("brand")),
        _text(coupon),
        _text(campaign.get("source")),
        _text(campaign.get("medium")),
        _text(campaign.get("name")),
        _text(page.get("url") or (props.get("url") if event["type"] == "page" else None)),
        _text(page.get("path") or (props.get("path") if event["type"] == "page" else None)),
        _text(page.get("referrer") or (props.get("referrer") if event["type"] == "page" else None)),
        dumps(props).decode(),
        dumps({k: v for k, v in context.items() if k != "traits"} if "traits" in context
              else context).decode(),
        *enriched_values(context),
        _text(event.get("previousId")),
        _text(event.get("groupId")),
    )


def enriched_values(context: dict[str, Any]) -> tuple[Any, ...]:
    """The enrichment columns of an event (``context.enrichment``), in ENRICHED_COLUMNS order."""
    found = context.get(ENRICHMENT_KEY)
    enrichment: dict[str, Any] = found if isinstance(found, dict) else {}
    return tuple(int(bool(enrichment.get(name))) if name == "is_bot" else _text(enrichment.get(name))
                 for name in ENRICHED_COLUMNS)


def user_rows(event: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The ``users`` row of an identify call with a userId (none for any other event): the
    traits as sent (JSON) and the contact traits the automation tools read, as of its time."""
    user_id = event.get("userId")
    if event.get("type") != IDENTIFY_CALL or not user_id:
        return []
    traits = event.get("traits") or {}
    contact = contact_traits(traits)
    name = contact.get("name") or " ".join(
        part for part in (contact.get("firstName"), contact.get("lastName")) if part)
    return [(event["tenant"], str(user_id), _text(event.get("anonymousId")),
             dumps(traits).decode(), contact.get("email", ""), contact.get("phone", ""), name,
             parse_iso(event["timestamp"]))]


def item_rows(event: dict[str, Any]) -> list[tuple[Any, ...]]:
    name = name_of(event)
    sign = ITEM_SIGNS.get(str(name))
    if sign is None:
        return []
    props = event.get("properties") or {}
    event_time = parse_iso(event["timestamp"])
    user_key = _text(event.get("userId") or event.get("anonymousId"))
    currency = _text(props.get("currency"))
    rows = []
    for index, line in enumerate(props.get("products") or []):
        rows.append((
            event["tenant"], event["messageId"], index, name, sign, event_time,
            _text(props.get("order_id")), user_key, _text(line.get("product_id")),
            _text(line.get("category")), _text(line.get("brand")),
            int(line.get("quantity") or 1), money_or_zero(line.get("price")),
            money_or_zero(line.get("discount")), line_total(line), _text(line.get("currency") or currency),
        ))
    return rows


def rows_for(payload: bytes | dict[str, Any]) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """Both kinds of rows for one canonical event (bytes from ``shop.events`` or a dict)."""
    event = orjson.loads(payload) if isinstance(payload, bytes | bytearray) else payload
    return event_row(event), item_rows(event)
