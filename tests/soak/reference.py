"""The triggers the live logic must give: the pure live state machines
(:class:`~streams.live.state.PartitionState`) replayed offline over the canonical events as
they stand on ``shop.events``, per partition in offset order; and the comparison with what
the worker published on ``shop.triggers.*``.

The replay runs on event time alone (its wall clock stands still). The worker's clock also
moves on with the wall clock while a partition is idle (a stalled fetch, a broker restart),
so it may fire a deadline a little before the event that would have cancelled it arrives.
Only triggers at or before the partition's latest event time are compared (later ones
exist only by that idle advance); a mismatch is put down to the idle advance only when an
event that could have cancelled that deadline (activity or checkout of that cart, a refund
of that order, the shopper seen again) lies within ``window`` before it, and then so are
the triggers that follow from it (that cart's later abandonment or recovery).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson

from models.ecommerce import EventName
from models.serde import dumps
from models.times import parse_iso_ms
from streams.live.events import live_event
from streams.live.state import LiveConfig, PartitionState
from tests.support import Record

DEADLINE_TYPES = {"cart_abandoned", "post_purchase", "winback"}
CLOSING = {str(EventName.CHECKOUT_STARTED), str(EventName.ORDER_COMPLETED)}
UNDOING = {str(EventName.ORDER_REFUNDED), str(EventName.ORDER_CANCELLED)}


@dataclass(frozen=True)
class Seen:
    """One trigger, as far as the comparison needs it."""

    trigger_id: str
    type: str
    time: str
    user: str
    cart_id: str | None = None
    order_id: str | None = None
    abandoned_trigger_id: str | None = None
    device: str | None = None  # the anonymous id it names: its device, so its partition

    @property
    def time_ms(self) -> int:
        return parse_iso_ms(self.time)

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.trigger_id, self.type, self.time)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Seen:
        return cls(str(obj["trigger_id"]), str(obj["type"]), str(obj["time"]),
                   str(obj.get("user_id") or obj.get("anonymous_id") or obj.get("tenant") or ""),
                   obj.get("cart_id"), obj.get("order_id"), obj.get("abandoned_trigger_id"),
                   obj.get("anonymous_id"))


@dataclass
class Replay:
    triggers: list[Seen] = field(default_factory=list)
    last_event_ms: dict[int, int] = field(default_factory=dict)   # partition -> watermark
    # where each shopper and cart was seen: shop.events is keyed by device, so one shopper's
    # devices (and a cart shared between them) may be on several partitions
    user_partitions: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    cart_partitions: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    device_partitions: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    not_canonical: int = 0
    # what could cancel a deadline, by cart, order and shopper (event times, sorted)
    cart_times: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    closing_times: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    undo_times: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    user_times: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def sort(self) -> None:
        for index in (self.cart_times, self.closing_times, self.undo_times, self.user_times):
            for times in index.values():
                times.sort()


def replay(events: list[Record], config: LiveConfig) -> Replay:
    """Every trigger the live logic gives over ``events`` (records of ``shop.events``)."""
    out = Replay()
    by_partition: dict[int, list[Record]] = defaultdict(list)
    for record in events:
        by_partition[record.partition].append(record)
    for partition, records in sorted(by_partition.items()):
        state = PartitionState(config)
        for record in sorted(records, key=lambda r: r.offset):
            try:
                obj = orjson.loads(record.value)
                ev = live_event(obj)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                out.not_canonical += 1
                continue
            out.user_partitions[ev.user_key].add(partition)
            if ev.anonymous_id:
                out.device_partitions[ev.anonymous_id].add(partition)
            props = ev.props
            if props.get("cart_id"):
                out.cart_times[str(props["cart_id"])].append(ev.ts)
                out.cart_partitions[str(props["cart_id"])].add(partition)
            elif ev.name in CLOSING:
                out.closing_times[ev.user_key].append(ev.ts)
            if ev.name in UNDOING and props.get("order_id"):
                out.undo_times[str(props["order_id"])].append(ev.ts)
            out.user_times[ev.user_key].append(ev.ts)
            effects = state.apply_at(record.offset, ev, 0)  # the wall clock stands still
            for trigger in effects.triggers if effects is not None else []:
                out.triggers.append(Seen.from_json(orjson.loads(dumps(trigger.model_dump()))))
        out.last_event_ms[partition] = state.clock.event_ms
    out.sort()
    return out


@dataclass
class TriggerReport:
    published: int = 0
    duplicate_ids: dict[str, int] = field(default_factory=dict)   # id -> copies
    compared: int = 0
    reference: int = 0
    by_type: dict[str, tuple[int, int]] = field(default_factory=dict)  # type -> (worker, ref)
    beyond: Counter[str] = field(default_factory=Counter)   # after the partition's last event
    unknown_shopper: list[Seen] = field(default_factory=list)
    missing: list[Seen] = field(default_factory=list)      # in the reference only
    extra: list[Seen] = field(default_factory=list)        # published only
    excused: list[Seen] = field(default_factory=list)      # of those, down to the idle advance

    @property
    def unexplained(self) -> list[Seen]:
        excused = {t.identity for t in self.excused}
        return [t for t in self.missing + self.extra + self.unknown_shopper
                if t.identity not in excused]


def compare(published: list[dict[str, Any]], ref: Replay, window_ms: int) -> TriggerReport:
    report = TriggerReport(published=len(published), reference=len(ref.triggers))
    copies = Counter(str(t["trigger_id"]) for t in published)
    report.duplicate_ids = {tid: n for tid, n in copies.items() if n > 1}
    comparable: dict[tuple[str, str, str], Seen] = {}
    reference = {t.identity: t for t in ref.triggers}
    for obj in published:
        seen = Seen.from_json(obj)
        if seen.identity in reference:
            comparable[seen.identity] = seen
            continue
        # not in the replay: fired by an idle advance if it is later than the last event of
        # a partition it may come from (its cart's, else its device's, else its shopper's)
        partitions = ((seen.cart_id and ref.cart_partitions.get(seen.cart_id))
                      or (seen.device and ref.device_partitions.get(seen.device))
                      or ref.user_partitions.get(seen.user))
        if not partitions:
            report.unknown_shopper.append(seen)
        elif any(seen.time_ms > ref.last_event_ms[p] for p in partitions):
            report.beyond[seen.type] += 1
        else:
            comparable[seen.identity] = seen
    report.compared = len(comparable)
    report.missing = [t for key, t in reference.items() if key not in comparable]
    report.extra = [t for key, t in comparable.items() if key not in reference]
    for kind in sorted({t.type for t in [*comparable.values(), *reference.values()]}):
        report.by_type[kind] = (sum(t.type == kind for t in comparable.values()),
                                sum(t.type == kind for t in reference.values()))
    report.excused = excused(report.missing + report.extra, ref, window_ms)
    return report


def _any_within(times: list[int], start_exclusive: int, end: int) -> bool:
    i = bisect.bisect_right(times, start_exclusive)
    return i < len(times) and times[i] <= end


def excused(mismatched: list[Seen], ref: Replay, window_ms: int) -> list[Seen]:
    """The mismatches the worker's idle wall-clock advance explains (see the module doc)."""
    carts: set[str] = set()
    orders: set[str] = set()
    users: set[str] = set()
    ids: set[str] = set()
    for t in mismatched:
        if t.type not in DEADLINE_TYPES:
            continue
        lo, hi = t.time_ms - window_ms, t.time_ms
        if t.type == "cart_abandoned" and t.cart_id and (
                _any_within(ref.cart_times.get(t.cart_id, []), lo, hi)
                or _any_within(ref.closing_times.get(t.user, []), lo, hi)):
            carts.add(t.cart_id)
            ids.add(t.trigger_id)
        elif t.type == "post_purchase" and t.order_id and _any_within(
                ref.undo_times.get(t.order_id, []), lo, hi):
            orders.add(t.order_id)
            ids.add(t.trigger_id)
        elif t.type == "winback" and _any_within(ref.user_times.get(t.user, []), lo, hi):
            users.add(t.user)
            ids.add(t.trigger_id)
    return [t for t in mismatched
            if t.trigger_id in ids
            or (t.type in ("cart_abandoned", "cart_recovered") and t.cart_id in carts)
            or (t.abandoned_trigger_id is not None and t.abandoned_trigger_id in ids)
            or (t.type == "post_purchase" and t.order_id in orders)
            or (t.type == "winback" and t.user in users)]
