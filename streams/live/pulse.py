"""Live metrics (pure): revenue and orders in the last minute and hour, shoppers active
in the last 5 minutes, in event time. Orders are kept in 10-second buckets for an
hour (persisted), their amounts summed per currency as sent; the active-shopper set is held
in memory only and refills within 5 minutes of a restart. A shopper is a person: an
anonymous id linked to a user (a login) is counted once, as the user.

Revenue is given in the tenant's reporting currency when the figures are read
(:func:`live_figures`, with a conversion passed in: :mod:`models.currency`'s rules): each
currency's sum of a UTC day is converted at that day's rate and rounded to cents once, so a
figure can differ from the reports' (which round each order) by under a cent per order. An
amount in a currency without a rate is never added in: it is listed apart, per currency.

State keys: ``m|<tenant>|<bucket ms>`` -> ``[orders, {currency: amount}]`` (``""``: sent
without a currency, taken to be the reporting currency).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from models.ecommerce import EventName
from models.times import ms_to_datetime
from streams.live.events import Effects, LiveEvent

BUCKET_MS = 10_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
ACTIVE_MS = 5 * MINUTE_MS

Converter = Callable[[Decimal, str, date], Decimal | None]
"""``(amount, currency as sent, UTC day) -> the amount in the reporting currency``, None
when a rate is missing (e.g. ``RateBook.to_reporting`` with the tenant's currency bound)."""

Amounts = dict[str, Decimal]  # currency as sent -> amount


@dataclass
class Pulse:
    buckets: dict[tuple[str, int], tuple[int, Amounts]] = field(default_factory=dict)
    seen: dict[tuple[str, str], int] = field(default_factory=dict)

    def restore(self, key: str, value: list[Any]) -> None:
        tenant, bucket = key[2:].rsplit("|", 1)
        amounts = value[1]
        if not isinstance(amounts, dict):  # written before amounts were kept per currency
            amounts = {"": amounts}
        self.buckets[(tenant, int(bucket))] = (
            int(value[0]), {str(c): Decimal(str(a)) for c, a in amounts.items()})

    def apply(self, ev: LiveEvent) -> Effects:
        effects = Effects()
        if ev.user_key:
            key = (ev.tenant, ev.user_key)
            self.seen[key] = max(self.seen.get(key, 0), ev.ts)
        if ev.name == EventName.ORDER_COMPLETED:
            bucket = ev.ts - ev.ts % BUCKET_MS
            orders, amounts = self.buckets.get((ev.tenant, bucket), (0, {}))
            currency = str(ev.props.get("currency") or "")
            amounts = {**amounts, currency: amounts.get(currency, Decimal(0))
                       + ev.amount}
            self.buckets[(ev.tenant, bucket)] = (orders + 1, amounts)
            effects.writes[f"m|{ev.tenant}|{bucket}"] = [
                orders + 1, {c: str(a) for c, a in amounts.items()}]
        return effects

    def identified(self, tenant: str, anonymous_id: str, user_id: str) -> None:
        """A link: the anonymous id's shopper is the user from now on, one active shopper
        (its later events are the user's; its earlier ones must not count a second)."""
        was = self.seen.pop((tenant, anonymous_id), None)
        if was is not None:
            key = (tenant, user_id)
            self.seen[key] = max(self.seen.get(key, 0), was)

    def expire(self, now_ms: int) -> Effects:
        effects = Effects()
        for (tenant, bucket) in list(self.buckets):
            if bucket + BUCKET_MS <= now_ms - HOUR_MS:
                del self.buckets[(tenant, bucket)]
                effects.writes[f"m|{tenant}|{bucket}"] = None
        for key, ts in list(self.seen.items()):
            if ts <= now_ms - ACTIVE_MS:
                del self.seen[key]
        return effects


class _Sums:
    """Amounts per UTC day and currency, converted once each when read."""

    def __init__(self) -> None:
        self.sums: dict[tuple[int, str], Decimal] = {}

    def add(self, day: int, amounts: Amounts) -> None:
        for currency, amount in amounts.items():
            self.sums[(day, currency)] = self.sums.get((day, currency), Decimal(0)) + amount

    def converted(self, to_reporting: Converter) -> tuple[Decimal, Amounts]:
        """The total in the reporting currency, and ``{currency: amount}`` without a rate."""
        total, unconverted = Decimal(0), dict[str, Decimal]()
        for (day, currency), amount in sorted(self.sums.items()):
            value = to_reporting(amount, currency, ms_to_datetime(day * DAY_MS).date())
            if value is None:
                unconverted[currency] = unconverted.get(currency, Decimal(0)) + amount
            else:
                total += value
        return total, {c: a for c, a in unconverted.items() if a}


def live_figures(pulses: list[Pulse], tenant: str, now_ms: int, to_reporting: Converter,
                 minutes: int = 30) -> dict[str, Any]:
    """Orders and revenue (in the reporting currency) in the last minute and hour, revenue
    per minute over the last ``minutes`` (oldest first), shoppers active in the last 5
    minutes, and the amounts left out for want of a rate (``unconverted_last_minute``,
    ``unconverted_last_hour``: ``{currency: amount}``): one pass."""
    minute_orders = hour_orders = 0
    minute, hour = _Sums(), _Sums()
    first_minute = now_ms - now_ms % MINUTE_MS - (minutes - 1) * MINUTE_MS
    per_minute = [_Sums() for _ in range(minutes)]
    for pulse in pulses:
        for (t, bucket), (n, amounts) in pulse.buckets.items():
            if t != tenant or bucket > now_ms:
                continue
            day = bucket // DAY_MS
            if bucket + BUCKET_MS > now_ms - HOUR_MS:
                hour_orders += n
                hour.add(day, amounts)
                if bucket + BUCKET_MS > now_ms - MINUTE_MS:
                    minute_orders += n
                    minute.add(day, amounts)
            slot = (bucket - first_minute) // MINUTE_MS
            if 0 <= slot < minutes:
                per_minute[slot].add(day, amounts)
    active = sum(1 for pulse in pulses for (t, _), ts in pulse.seen.items()
                 if t == tenant and ts > now_ms - ACTIVE_MS)
    minute_revenue, minute_unconverted = minute.converted(to_reporting)
    hour_revenue, hour_unconverted = hour.converted(to_reporting)
    return {"orders_last_minute": minute_orders, "revenue_last_minute": minute_revenue,
            "orders_last_hour": hour_orders, "revenue_last_hour": hour_revenue,
            "active_users_5m": active,
            "revenue_by_minute": [round(float(s.converted(to_reporting)[0]), 2)
                                  for s in per_minute],
            "unconverted_last_minute": minute_unconverted,
            "unconverted_last_hour": hour_unconverted}
