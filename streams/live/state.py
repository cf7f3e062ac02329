"""One partition's live state: every module behind one event clock (pure).

Each event is first resolved to its person (:mod:`streams.live.identities`: an identify or
alias call links ids, and a linked anonymous id's events count as the user's); every
trigger fired carries the shopper's user id and contact traits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.segments import SegmentRules
from models.settings import Settings
from streams.live.carts import CartBook
from streams.live.clock import EventClock
from streams.live.customers import Customers
from streams.live.events import Effects, LiveEvent
from streams.live.funnel import Funnel
from streams.live.identities import Identities
from streams.live.pulse import Pulse
from streams.live.trending import TrendWeights, trend_updates

WATERMARK_KEY = "w"
OFFSET_KEY = "o"  # the last shop.events offset whose effects are in this state
WATERMARK_STEP_MS = 1_000  # the persisted watermark may lag this much (it only gates lateness)


@dataclass(frozen=True)
class LiveConfig:
    abandon_after_ms: int = 30 * 60_000
    recovery_window_ms: int = 7 * 86_400_000
    lateness_ms: int = 5 * 60_000
    trending_half_life_ms: float = 6 * 3_600_000
    trending_weights: TrendWeights = TrendWeights()
    trending_floor: float = 0.01
    post_purchase_after_ms: int = 3 * 86_400_000
    winback_after_ms: int = 30 * 86_400_000
    segment_rules: SegmentRules = SegmentRules()

    @classmethod
    def from_settings(cls, s: Settings) -> LiveConfig:
        return cls(
            abandon_after_ms=int(s.cart_abandon_after_s * 1000),
            recovery_window_ms=int(s.cart_recovery_window_s * 1000),
            lateness_ms=int(s.allowed_lateness_s * 1000),
            trending_half_life_ms=s.trending_half_life_h * 3_600_000,
            trending_weights=TrendWeights(s.trending_weight_view, s.trending_weight_add,
                                          s.trending_weight_purchase),
            trending_floor=s.trending_floor,
            post_purchase_after_ms=int(s.post_purchase_after_days * 86_400_000),
            winback_after_ms=int(s.winback_after_days * 86_400_000),
            segment_rules=SegmentRules(s.high_value_revenue, s.frequent_buyer_orders,
                                       s.frequent_buyer_gap_days),
        )


class ApplyFailed(Exception):
    """Applying an event failed; ``effects``: what fell due before it (fired all the same)."""

    def __init__(self, effects: Effects, error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.effects, self.error = effects, error


class PartitionState:
    def __init__(self, config: LiveConfig) -> None:
        self.config = config
        self.clock = EventClock()
        self.identities = Identities()
        self.carts = CartBook(config.abandon_after_ms, config.recovery_window_ms)
        self.funnel = Funnel()
        self.customers = Customers(config.post_purchase_after_ms, config.winback_after_ms,
                                   config.segment_rules)
        self.pulse = Pulse()
        self._persisted_watermark = 0
        self.applied_offset = -1

    def restore(self, key: str, value: Any) -> None:
        kind = key[0]
        if key == WATERMARK_KEY:
            self.clock.event_ms = self._persisted_watermark = int(value)
        elif key == OFFSET_KEY:
            self.applied_offset = int(value)
        elif kind in "ca":
            self.carts.restore(key, value)
        elif kind == "t":
            pass  # trending scores now live with the trending stage, by product
        elif kind in "sf":
            self.funnel.restore(key, value)
        elif kind == "u":
            self.customers.restore(key, value)
        elif kind == "m":
            self.pulse.restore(key, value)
        elif kind in "ip":
            self.identities.restore(key, value)

    def restored(self, wall_ms: int) -> None:
        """After restoring: idle time counts from when the partition is next seen caught up,
        not from before the restart."""
        self.clock.busy()

    def idle(self, wall_ms: int) -> None:
        """The stage has read everything there is on this partition: wall time passes."""
        self.clock.idle(wall_ms)

    def busy(self) -> None:
        """Input is waiting on this partition: only event time moves the clock (it keeps the
        idle time that passed)."""
        self.clock.busy()

    def apply_at(self, offset: int, ev: LiveEvent, wall_ms: int) -> Effects | None:
        """Apply the event at ``offset`` of the source partition, once: an offset at or
        below the last applied one is already in this state (its effects committed even
        if its offset was not) and is skipped (None)."""
        if offset <= self.applied_offset:
            return None
        effects = self.apply(ev, wall_ms)
        self.applied_offset = offset
        effects.writes[OFFSET_KEY] = offset
        return effects

    def apply(self, ev: LiveEvent, wall_ms: int) -> Effects:
        """Move event time to the event, fire what fell due before it, then apply it: a
        replay fires the same deadlines, in the same order, as living through it. When
        applying the event itself fails, :class:`ApplyFailed` carries what fell due."""
        late = self.clock.is_late(ev.ts, wall_ms, self.config.lateness_ms)
        self.clock.observe(ev.ts)
        fired = self.due(wall_ms)
        try:
            return self._applied(ev, late, wall_ms, fired)
        except Exception as exc:
            raise ApplyFailed(self._watermark(self._stamped(fired)), exc) from exc

    def _applied(self, ev: LiveEvent, late: bool, wall_ms: int, fired: Effects) -> Effects:
        effects = Effects()
        effects.merge(fired)
        if ev.is_bot:  # a bot's event: no cart, trend, funnel, customer, person or live figure
            return self._watermark(self._stamped(effects))
        linked, links = self.identities.apply(ev)
        effects.merge(linked)
        for link in links:
            effects.merge(self.carts.identified(link.tenant, link.anonymous_id, link.user_id))
            self.pulse.identified(link.tenant, link.anonymous_id,
                                  self.identities.person(link.tenant, link.user_id))
        ev = self.identities.resolve(ev)
        effects.merge(self.carts.apply(ev, late, wall_ms))
        effects.trend.extend(trend_updates(ev, self.config.trending_weights))
        effects.merge(self.funnel.apply(ev))
        effects.merge(self.customers.apply(ev, wall_ms))
        effects.merge(self.pulse.apply(ev))
        return self._watermark(self._stamped(effects))

    def _stamped(self, effects: Effects) -> Effects:
        if effects.triggers:
            effects.triggers = self.identities.stamp(effects.triggers)
        return effects

    def _watermark(self, effects: Effects) -> Effects:
        if self.clock.event_ms - self._persisted_watermark >= WATERMARK_STEP_MS:
            self._persisted_watermark = self.clock.event_ms
            effects.writes[WATERMARK_KEY] = self.clock.event_ms
        return effects

    def now(self, wall_ms: int) -> int:
        return self.clock.now(wall_ms)

    def due(self, wall_ms: int) -> Effects:
        now = self.now(wall_ms)
        if now == 0:
            return Effects()
        return self._stamped(self.carts.due(now, wall_ms).merge(self.customers.due(now, wall_ms)))

    def housekeeping(self, wall_ms: int) -> Effects:
        now = self.now(wall_ms)
        if now == 0:
            return Effects()
        return self.funnel.expire(now).merge(self.pulse.expire(now))
