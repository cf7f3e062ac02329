from datetime import date
from decimal import Decimal as D

import pytest

from models.currency import (
    FxRate,
    InvalidRate,
    RateBook,
    amounts_text,
    convert,
    parse_rate_row,
    reporting_currencies,
    reporting_currency,
)


def book(*rows: tuple[str, str, str]) -> RateBook:
    b = RateBook(base="USD")
    for row in rows:
        b.add(parse_rate_row(list(row)))
    return b


def test_the_rate_of_a_date_is_the_latest_on_or_before_it():
    b = book(("2026-03-01", "EUR", "1.10"), ("2026-03-03", "EUR", "1.20"))
    assert b.rate_on("EUR", date(2026, 2, 28)) is None
    assert b.rate_on("EUR", date(2026, 3, 1)) == D("1.10")
    assert b.rate_on("EUR", date(2026, 3, 2)) == D("1.10")
    assert b.rate_on("EUR", date(2026, 3, 3)) == D("1.20")
    assert b.rate_on("EUR", date(2027, 1, 1)) == D("1.20")
    assert b.rate_on("USD", date(1999, 1, 1)) == D(1)  # the base
    assert b.rate_on("JPY", date(2026, 3, 3)) is None


def test_a_rate_loaded_again_replaces_the_old_one():
    b = book(("2026-03-01", "EUR", "1.10"), ("2026-03-01", "EUR", "1.15"))
    assert b.rate_on("EUR", date(2026, 3, 1)) == D("1.15") and len(b) == 1
    b.remove(date(2026, 3, 1), "EUR")
    assert b.rate_on("EUR", date(2026, 3, 1)) is None


def test_conversion_is_exact_then_rounded_to_cents_half_away_from_zero():
    # 10.005 EUR at 1.1 USD, to GBP at 1.25 USD: 10.005 * 1.1 / 1.25 = 8.8044 -> 8.80
    assert convert(D("10.005"), D("1.1"), D("1.25")) == D("8.80")
    assert convert(D("0.05"), D("0.5"), D("1")) == D("0.03")  # 0.025 -> 0.03
    assert convert(D("-0.05"), D("0.5"), D("1")) == D("-0.03")
    # a third: 100 * 1 / 3 = 33.333... -> 33.33, no binary float on the way
    assert convert(D("100"), D("1"), D("3")) == D("33.33")
    # no digit lost at 18 significant digits x 11: 12345678901234.5678 + 1234.56789012345678
    assert convert(D("12345678901234.5678"), D("1.0000000001"), D("1")) == D("12345678902469.14")


def test_to_reporting():
    b = book(("2026-03-01", "EUR", "1.10"), ("2026-03-01", "GBP", "1.25"))
    day = date(2026, 3, 2)
    assert b.to_reporting(D("19.9950"), "USD", day, "USD") == D("19.9950")  # kept, unrounded
    assert b.to_reporting(D("19.9950"), "", day, "EUR") == D("19.9950")  # no currency: kept
    assert b.to_reporting(D("10"), "EUR", day, "USD") == D("11.00")
    assert b.to_reporting(D("10"), "EUR", day, "GBP") == D("8.80")
    assert b.to_reporting(D("10"), "JPY", day, "USD") is None
    assert b.to_reporting(D("10"), "EUR", date(2026, 2, 1), "USD") is None  # before any rate
    assert b.to_reporting(D("10"), "USD", day, "CHF") is None  # no rate for the reporting one


@pytest.mark.parametrize(("row", "message"), [
    (["2026-13-01", "EUR", "1"], "date must be YYYY-MM-DD"),
    (["2026-03-01", "eur", "1"], "3-letter uppercase"),
    (["2026-03-01", "EUR", "abc"], "must be a number"),
    (["2026-03-01", "EUR", "0"], "positive"),
    (["2026-03-01", "EUR", "-1"], "positive"),
    (["2026-03-01", "EUR", "NaN"], "positive"),
    (["2026-03-01", "EUR", "1.12345678901"], "decimal places"),
    (["2026-03-01", "EUR"], "expected 3 fields"),
    (["2026-03-01", "USD", "1.1"], "base currency"),
])
def test_bad_rows_are_refused_with_a_reason(row, message):
    with pytest.raises(InvalidRate, match=message):
        parse_rate_row(row, base="USD")


def test_a_rate_travels_through_its_record():
    rate = parse_rate_row(["2026-03-01", "EUR", "1.0825"])
    assert rate.key == b"2026-03-01|EUR"
    assert FxRate.from_json(rate.to_json()) == rate


def test_reporting_currency_per_tenant():
    currencies = reporting_currencies("USD", " acme=EUR, globex = GBP ")
    assert reporting_currency(currencies, "acme") == "EUR"
    assert reporting_currency(currencies, "globex") == "GBP"
    assert reporting_currency(currencies, "other") == "USD"
    with pytest.raises(ValueError, match="tenant=CODE"):
        reporting_currencies("USD", "acme")
    with pytest.raises(ValueError, match="acme"):
        reporting_currencies("USD", "acme=eur")


def test_amounts_text():
    assert amounts_text({"JPY": D("500"), "CHF": D("1.5"), "SEK": D("0")}) == "CHF 1.5; JPY 500"
    assert amounts_text({}) == ""
    # as ClickHouse's Decimal(18, 4) column gives them
    assert amounts_text({"JPY": D("1500.0000"), "EUR": D("10.5000")}) == "EUR 10.5; JPY 1500"
