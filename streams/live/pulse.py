"""Live metrics (pure): revenue and orders in the last minute and hour, shoppers active
in the last 5 minutes, in event time. Orders are kept in 10-second buckets for an
hour (persisted); the active-shopper set is held in memory only and refills within
5 minutes of a restart.

State keys: ``m|<tenant>|<bucket ms>`` -> ``[orders, revenue]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from models.ecommerce import EventName
from models.orders import order_amount
from streams.live.events import Effects, LiveEvent

BUCKET_MS = 10_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
ACTIVE_MS = 5 * MINUTE_MS


@dataclass
class Pulse:
    buckets: dict[tuple[str, int], tuple[int, Decimal]] = field(default_factory=dict)
    seen: dict[tuple[str, str], int] = field(default_factory=dict)

    def restore(self, key: str, value: list[Any]) -> None:
        tenant, bucket = key[2:].rsplit("|", 1)
        self.buckets[(tenant, int(bucket))] = (int(value[0]), Decimal(str(value[1])))

    def apply(self, ev: LiveEvent) -> Effects:
        effects = Effects()
        if ev.user_key:
            key = (ev.tenant, ev.user_key)
            self.seen[key] = max(self.seen.get(key, 0), ev.ts)
        if ev.name == EventName.ORDER_COMPLETED:
            bucket = ev.ts - ev.ts % BUCKET_MS
            orders, revenue = self.buckets.get((ev.tenant, bucket), (0, Decimal(0)))
            entry = (orders + 1, revenue + order_amount(ev.name, ev.props))
            self.buckets[(ev.tenant, bucket)] = entry
            effects.writes[f"m|{ev.tenant}|{bucket}"] = [entry[0], str(entry[1])]
        return effects

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


def live_figures(pulses: list[Pulse], tenant: str, now_ms: int,
                 minutes: int = 30) -> dict[str, Any]:
    """Orders and revenue in the last minute and hour, revenue per minute over the last
    ``minutes`` (oldest first), and shoppers active in the last 5 minutes: one pass."""
    minute_orders = hour_orders = 0
    minute_revenue = hour_revenue = Decimal(0)
    first_minute = now_ms - now_ms % MINUTE_MS - (minutes - 1) * MINUTE_MS
    per_minute = [Decimal(0)] * minutes
    for pulse in pulses:
        for (t, bucket), (n, amount) in pulse.buckets.items():
            if t != tenant or bucket > now_ms:
                continue
            if bucket + BUCKET_MS > now_ms - HOUR_MS:
                hour_orders, hour_revenue = hour_orders + n, hour_revenue + amount
                if bucket + BUCKET_MS > now_ms - MINUTE_MS:
                    minute_orders, minute_revenue = minute_orders + n, minute_revenue + amount
            slot = (bucket - first_minute) // MINUTE_MS
            if 0 <= slot < minutes:
                per_minute[slot] += amount
    active = sum(1 for pulse in pulses for (t, _), ts in pulse.seen.items()
                 if t == tenant and ts > now_ms - ACTIVE_MS)
    return {"orders_last_minute": minute_orders, "revenue_last_minute": minute_revenue,
            "orders_last_hour": hour_orders, "revenue_last_hour": hour_revenue,
            "active_users_5m": active,
            "revenue_by_minute": [round(float(amount), 2) for amount in per_minute]}
