"""The view of a canonical event that the live modules need, and what they return."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from models.ecommerce import EventName
from models.enrichment import is_bot_event
from models.envelope import name_of
from models.identity import device_key
from models.money import ZERO
from models.orders import order_amount
from models.times import parse_iso_ms
from models.triggers import Trigger
from streams.live.clock import clock_time

# events whose amount the live state reads (carts, customers, live figures)
_AMOUNT_EVENTS = frozenset({EventName.ORDER_COMPLETED, EventName.ORDER_UPDATED,
                            EventName.ORDER_REFUNDED, EventName.ORDER_CANCELLED})


class LiveEvent(NamedTuple):
    """Immutable; a named tuple, as one is made per event (a quarter of a frozen dataclass's
    cost to make)."""

    name: str            # the track event name, or the call type ("page", "identify")
    call: str            # the call type: track, page, identify, alias, group
    tenant: str
    ts: int              # event time, ms since the epoch (at most a minute past received_ms)
    user_key: str        # the person: userId, else the user its anonymousId is linked to, else
                         # anonymousId (streams/live/identities.py resolves it)
    user_id: str | None  # as sent, then as resolved
    anonymous_id: str | None
    session_id: str | None
    source: str          # utm source ("" when none)
    props: dict[str, Any]
    is_bot: bool = False  # flagged by the validation stage's enrichment: moves time, nothing else
    previous_id: str | None = None  # alias calls
    traits: dict[str, Any] | None = None  # identify calls, as sent (never stored whole)
    received_ms: int | None = None  # when shopstream received it (receivedAt), ms
    amount: Decimal = ZERO  # an order event's amount (models.orders.order_amount), read once

    @property
    def device(self) -> str:
        """The device the event came from (:func:`models.identity.device_key`): one browser's
        events before and after a login share it."""
        return device_key(self.user_id, self.anonymous_id, self.previous_id)


def live_event(obj: dict[str, Any]) -> LiveEvent:
    """From a canonical event as published on ``shop.events`` (already validated)."""
    context = obj.get("context") or {}
    campaign = context.get("campaign") or {}
    user_id, anonymous_id = obj.get("userId"), obj.get("anonymousId")
    name, props = name_of(obj), obj.get("properties") or {}
    if not isinstance(props, dict):
        raise TypeError(f"properties is a {type(props).__name__}, not an object")
    # read here, before the state changes: an amount that is not money is never applied
    amount = order_amount(name, props) if name in _AMOUNT_EVENTS else ZERO
    received_ms = parse_iso_ms(received) if (received := obj.get("receivedAt")) else None
    return LiveEvent(
        name=name, call=str(obj.get("type") or ""),
        tenant=str(obj.get("tenant") or "default"),
        # stamped ahead of its receipt (a device's clock): as if a minute after it arrived
        ts=clock_time(parse_iso_ms(obj["timestamp"]), received_ms),
        user_key=str(user_id or anonymous_id or ""),
        user_id=user_id, anonymous_id=anonymous_id,
        session_id=context.get("sessionId"),
        source=str(campaign.get("source") or ""),
        props=props,
        is_bot=is_bot_event(obj),
        previous_id=obj.get("previousId"), traits=obj.get("traits"),
        received_ms=received_ms, amount=amount,
    )


class Effects:
    """State to persist (key -> value, None deletes), triggers to emit, and trending updates
    to send on to the products' owners (repartitioned by product).

    A value is what ``models.serde.dumps`` writes: a JSON-able value or the state's own
    dataclass, held by reference and serialised only when the write-back cache is flushed
    at the commit, so a key changed by many events costs one serialisation per commit.
    (A plain class with slots: several are made per event.)"""

    __slots__ = ("writes", "triggers", "trend")

    def __init__(self, writes: dict[str, Any] | None = None,
                 triggers: list[Trigger] | None = None,
                 trend: list[TrendUpdate] | None = None) -> None:
        self.writes: dict[str, Any] = {} if writes is None else writes
        self.triggers: list[Trigger] = [] if triggers is None else triggers
        self.trend: list[TrendUpdate] = [] if trend is None else trend

    def __repr__(self) -> str:
        return f"Effects(writes={self.writes!r}, triggers={self.triggers!r}, trend={self.trend!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Effects) and (self.writes, self.triggers, self.trend) == (
            other.writes, other.triggers, other.trend)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    def merge(self, other: Effects) -> Effects:
        if other.writes:  # (called several times per event, mostly with nothing to add)
            self.writes.update(other.writes)
        if other.triggers:
            self.triggers.extend(other.triggers)
        if other.trend:
            self.trend.extend(other.trend)
        return self

    def __bool__(self) -> bool:
        return bool(self.writes or self.triggers or self.trend)


@dataclass(frozen=True)
class TrendUpdate:
    """Weight added to a product's trending score at an event time."""

    tenant: str
    product: str
    category: str
    weight: float
    ts: int

    def to_json(self) -> dict[str, Any]:
        return {"t": self.tenant, "p": self.product, "c": self.category, "w": self.weight,
                "ts": self.ts}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> TrendUpdate:
        return cls(str(value["t"]), str(value["p"]), str(value.get("c") or ""),
                   float(value["w"]), int(value["ts"]))
