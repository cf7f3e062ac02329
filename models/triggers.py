"""The trigger contract: what automation consumers read from ``shop.triggers.*``.

Every trigger is one JSON object with the common fields of :class:`Trigger`
(``trigger_id``, ``type``, ``tenant``, ``time``, ``emitted_at``, the shopper's
ids and contact ``traits``) and the fields of its type. ``trigger_id`` is derived from what caused the
trigger, so a consumer that sees the same id twice (it never should) can drop
the copy. Money is an exact JSON number; times are ISO 8601 UTC with
milliseconds. ``shopstream schema triggers`` prints the JSON Schema of each.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
NAMESPACE = uuid.UUID("6f1d2c1e-9a55-4c2b-8f43-5b0f0d6e7a11")


def trigger_id(*parts: object) -> str:
    """A stable id from what caused the trigger (uuid5)."""
    return str(uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts)))


class Trigger(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    trigger_id: str = Field(description="stable id of this trigger (uuid5 of its cause)")
    type: str = Field(description="the trigger type; also the topic suffix")
    schema_version: int = SCHEMA_VERSION
    tenant: str
    time: datetime = Field(description="when the condition held, in event time")
    emitted_at: datetime = Field(description="when shopstream sent it (wall clock)")
    user_id: str | None = Field(default=None, description=(
        "the shopper's user id: the one sent, else the one their anonymous id is linked to "
        "by identify or alias"))
    anonymous_id: str | None = None
    traits: dict[str, str] = Field(default_factory=dict, description=(
        "the shopper's latest contact traits from identify calls (email, phone, name, "
        "firstName, lastName, username), when known"))


class CartItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    product_id: str
    name: str | None = None
    category: str | None = None
    quantity: int
    unit_price: Decimal
    line_total: Decimal


class CartAbandoned(Trigger):
    type: Literal["cart_abandoned"] = "cart_abandoned"
    event: Literal["Cart Abandoned"] = "Cart Abandoned"
    cart_id: str
    session_id: str | None = None
    total_items: int
    total_value: Decimal
    currency: str
    cart_duration_minutes: float = Field(description="first to last cart activity")
    items: list[CartItem]
    categories: list[str]
    reason: str
    first_activity_at: datetime
    last_activity_at: datetime
    abandoned_at: datetime = Field(description="last activity + CART_ABANDON_AFTER")


class CartRecovered(Trigger):
    type: Literal["cart_recovered"] = "cart_recovered"
    event: Literal["Cart Recovered"] = "Cart Recovered"
    cart_id: str
    order_id: str
    recovered_revenue: Decimal
    currency: str
    minutes_since_abandonment: float
    abandoned_trigger_id: str
    abandoned_at: datetime


class PostPurchase(Trigger):
    type: Literal["post_purchase"] = "post_purchase"
    event: Literal["Post Purchase"] = "Post Purchase"
    order_id: str
    ordered_at: datetime
    days_after: float
    revenue: Decimal
    currency: str
    product_ids: list[str]


class Winback(Trigger):
    type: Literal["winback"] = "winback"
    event: Literal["Winback"] = "Winback"
    last_order_at: datetime
    last_seen_at: datetime
    days_inactive: float = Field(
        description="from last_seen_at to the trigger's time: the win-back rule's days")
    orders: int
    revenue: Decimal


class SegmentChanged(Trigger):
    type: Literal["segment_changed"] = "segment_changed"
    event: Literal["Segment Changed"] = "Segment Changed"
    old_segment: str
    new_segment: str
    orders: int
    revenue: Decimal = Field(description="net revenue: orders less refunds and cancellations")
    mean_gap_days: float | None = None
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None


class ChurnRisk(Trigger):
    """A valuable customer whose churn risk (the probability of no order within
    ``horizon_days``, from ``shopstream predict train``) crossed the threshold since the
    previous training run. Sent by ``predict train``, not by
    the live stage; ``time`` is the end of the order data the run was fitted on, so a
    retrain on the same data gives the same ``trigger_id``."""

    type: Literal["churn_risk"] = "churn_risk"
    event: Literal["Churn Risk"] = "Churn Risk"
    churn_risk: float = Field(description="probability of no order within horizon_days")
    previous_churn_risk: float | None = Field(
        description="at the previous run; None: the customer was not forecast then")
    threshold: float
    p_alive: float
    expected_orders: float = Field(description="order days expected within horizon_days")
    expected_revenue: Decimal = Field(description="revenue expected within horizon_days")
    horizon_days: float
    orders: int
    revenue: Decimal = Field(description="net revenue of the customer's orders so far")
    currency: str = Field(description="of expected_revenue and revenue: the tenant's reporting "
                          "currency")
    last_order_at: datetime


TRIGGER_TYPES: dict[str, type[Trigger]] = {
    "cart_abandoned": CartAbandoned,
    "cart_recovered": CartRecovered,
    "post_purchase": PostPurchase,
    "winback": Winback,
    "segment_changed": SegmentChanged,
    "churn_risk": ChurnRisk,
}


def trigger_schemas() -> dict[str, Any]:
    """JSON Schema of every trigger, by type (topic ``shop.triggers.<type>``)."""
    return {name: model.model_json_schema() for name, model in TRIGGER_TYPES.items()}
