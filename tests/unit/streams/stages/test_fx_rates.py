from datetime import date
from decimal import Decimal as D

import pytest

from models.currency import parse_rate_row
from models.errors import ShopstreamError
from models.settings import load_settings
from streams.stages.fx_rates import LiveRates


def record(day: str, currency: str, rate: str) -> tuple[bytes, bytes]:
    r = parse_rate_row([day, currency, rate])
    return r.key, r.to_json()


def test_records_of_the_rates_topic_make_the_conversions():
    rates = LiveRates(load_settings(reporting_currency="USD", reporting_currencies="acme=EUR"))
    rates.apply(*record("2026-03-01", "EUR", "1.10"))
    rates.apply(*record("2026-03-01", "GBP", "1.25"))
    rates.apply(b"2026-03-01|XXX", b"not json")  # unreadable: ignored, logged
    day = date(2026, 3, 2)
    assert rates.converter("shop")(D("10"), "EUR", day) == D("11.00")
    assert (rates.reporting("shop"), rates.reporting("acme")) == ("USD", "EUR")
    assert rates.converter("acme")(D("20"), "GBP", day) == D("22.73")  # 20 * 1.25 / 1.10
    rates.apply(*record("2026-03-01", "EUR", "1.20"))  # loaded again: replaced
    assert rates.converter("shop")(D("10"), "EUR", day) == D("12.00")
    rates.apply(b"2026-03-01|EUR", None)  # a tombstone removes it
    assert rates.converter("shop")(D("10"), "EUR", day) is None


def test_a_malformed_setting_is_a_clear_error():
    with pytest.raises(ShopstreamError, match="tenant=CODE"):
        LiveRates(load_settings(reporting_currencies="acme"))
