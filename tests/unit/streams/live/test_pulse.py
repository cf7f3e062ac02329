"""Live revenue per currency, converted when read: figures worked out by hand.

Rates (USD per unit; USD is the base): 2026-03-01 EUR 1.10, GBP 1.25; 2026-03-02 EUR 1.20.
"""

from __future__ import annotations

from decimal import Decimal as D
from functools import partial

import orjson

from models.currency import RateBook, parse_rate_row
from models.ecommerce import EventName
from models.times import format_ms, parse_iso_ms
from streams.live.events import live_event
from streams.live.pulse import Pulse, live_figures

T0 = parse_iso_ms("2026-03-01T10:00:00Z")
MIN = 60_000
SEC = 1_000


def book() -> RateBook:
    b = RateBook(base="USD")
    for row in (["2026-03-01", "EUR", "1.10"], ["2026-03-01", "GBP", "1.25"],
                ["2026-03-02", "EUR", "1.20"]):
        b.add(parse_rate_row(row))
    return b


def in_(reporting: str):
    return partial(book().to_reporting, reporting=reporting)


def order(pulse: Pulse, ts: int, total: str, currency: str | None, user: str = "alice",
          tenant: str = "t1") -> dict:
    props = {"order_id": f"o{ts}", "total": float(total)}
    if currency is not None:
        props["currency"] = currency
    return pulse.apply(live_event({"type": "track", "event": EventName.ORDER_COMPLETED,
                                   "tenant": tenant, "userId": user, "timestamp": format_ms(ts),
                                   "properties": props})).writes


def shop() -> Pulse:
    pulse = Pulse()
    order(pulse, T0 - MIN, "10.00", "EUR")                       # over an hour ago: out
    order(pulse, T0 + 30 * MIN, "20.00", "GBP", "bob")           # 20.00 * 1.25 = 25.00
    order(pulse, T0 + 40 * MIN, "5.55", "USD", "carol")          # kept: 5.55
    order(pulse, T0 + 45 * MIN, "1500", "JPY", "dave")           # no rate: apart
    order(pulse, T0 + 50 * MIN, "1.00", None, "erin")            # no currency: kept, 1.00
    order(pulse, T0 + 59 * MIN + 30 * SEC, "10.00", "EUR")       # 10.00 * 1.10 = 11.00
    order(pulse, T0 + 59 * MIN + 40 * SEC, "2.00", "USD", tenant="other")
    return pulse


def test_revenue_in_the_reporting_currency_and_the_rest_apart():
    figures = live_figures([shop()], "t1", T0 + 60 * MIN, in_("USD"))
    assert figures["orders_last_minute"] == 1 and figures["revenue_last_minute"] == D("11.00")
    # 25.00 + 5.55 + 1.00 + 11.00; the JPY order counts as an order, not in the revenue
    assert figures["orders_last_hour"] == 5 and figures["revenue_last_hour"] == D("42.55")
    assert figures["unconverted_last_hour"] == {"JPY": D("1500")}
    assert figures["unconverted_last_minute"] == {}
    per_minute = figures["revenue_by_minute"]  # 30 minutes, 10:31 ... 11:00 (now's minute)
    assert (per_minute[9], per_minute[14], per_minute[19], per_minute[28]) == (5.55, 0.0, 1.0, 11.0)
    assert round(sum(per_minute), 2) == 17.55  # the GBP order of 10:30 is before the first


def test_in_another_reporting_currency():
    figures = live_figures([shop()], "t1", T0 + 60 * MIN, in_("EUR"))
    # GBP 20.00 * 1.25 / 1.10 = 22.7272.. -> 22.73; USD 5.55 / 1.10 = 5.04545.. -> 5.05;
    # no currency 1.00 kept; EUR 10.00 kept: 38.78
    assert figures["revenue_last_hour"] == D("38.78")
    assert figures["unconverted_last_hour"] == {"JPY": D("1500")}


def test_each_day_at_its_own_rate():
    pulse = Pulse()
    midnight = parse_iso_ms("2026-03-02T00:00:00Z")
    order(pulse, midnight - 10 * MIN, "10.00", "EUR")  # 10.00 * 1.10 = 11.00
    order(pulse, midnight + 10 * MIN, "10.00", "EUR")  # 10.00 * 1.20 = 12.00
    figures = live_figures([pulse], "t1", midnight + 30 * MIN, in_("USD"))
    assert figures["revenue_last_hour"] == D("23.00")
    # before any EUR rate: apart
    early = Pulse()
    order(early, parse_iso_ms("2026-02-28T12:00:00Z"), "10.00", "EUR")
    figures = live_figures([early], "t1", parse_iso_ms("2026-02-28T12:00:30Z"), in_("USD"))
    assert figures["revenue_last_minute"] == D("0") and figures["orders_last_minute"] == 1
    assert figures["unconverted_last_minute"] == {"EUR": D("10.00")}


def test_a_currency_sum_of_a_day_is_rounded_once():
    pulse = Pulse()
    order(pulse, T0, "10.005", "EUR")
    order(pulse, T0 + SEC, "10.005", "EUR", "bob")
    # 20.01 * 1.10 = 22.011 -> 22.01 (each order alone would round 11.0055 up to 11.01)
    assert live_figures([pulse], "t1", T0 + 2 * SEC, in_("USD"))["revenue_last_minute"] == D("22.01")


def test_the_state_keeps_sums_per_currency_and_restores_them():
    pulse = Pulse()
    order(pulse, T0, "10.00", "EUR")
    writes = order(pulse, T0 + SEC, "7.50", "GBP", "bob")
    [(key, value)] = writes.items()
    assert key == f"m|t1|{T0}" and value == [2, {"EUR": "10.0", "GBP": "7.5"}]
    restored = Pulse()
    restored.restore(key, orjson.loads(orjson.dumps(value)))
    assert restored.buckets == pulse.buckets
    # a bucket written before amounts were kept per currency: taken as sent without one
    restored.restore(f"m|t1|{T0 + 10 * SEC}", [1, "4.25"])
    assert restored.buckets[("t1", T0 + 10 * SEC)] == (1, {"": D("4.25")})
