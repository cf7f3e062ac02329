"""Exchange rates and currency conversion, defined once.

- **A rate** is the value of one unit of ``currency`` in a common base currency
  (``SHOPSTREAM_FX_BASE_CURRENCY``, USD by default) on a date: ``2026-03-01,EUR,1.08``
  says 1 EUR = 1.08 USD. The base currency's own rate is 1 on every date (a file may list
  it, with rate 1). Any pair then converts as ``amount * rate(from) / rate(to)``.
- **The rate of a date** is the latest rate dated on or before it (a weekend takes
  Friday's); a currency with no rate dated on or before the date has none.
- **Converting**: ``amount * rate(from) / rate(to)``, computed exactly, then rounded to
  cents, half away from zero (:func:`models.money.round_cents`). An amount already in the
  reporting currency, or sent without a currency (taken to be the reporting currency), is
  kept as it is, unrounded. Without a rate for either side the amount is not converted:
  callers report it apart, never add it in.
- **The reporting currency** of a tenant: ``SHOPSTREAM_REPORTING_CURRENCY`` (USD), unless
  ``SHOPSTREAM_REPORTING_CURRENCIES`` names one for it (``acme=EUR,globex=GBP``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from models.fields import Currency
from models.money import round_cents

RATE_DECIMALS = 10  # fx_rates.rate is Decimal(22, 10)
MAX_RATE = Decimal(10) ** 12
_CURRENCY = TypeAdapter(Currency)


class InvalidRate(ValueError):
    """A rate row that is not a date, a currency code and a positive rate."""


@dataclass(frozen=True, order=True)
class FxRate:
    day: date
    currency: str
    rate: Decimal

    @property
    def key(self) -> bytes:
        """The record key on the compacted rates topic: one record per date and currency."""
        return f"{self.day.isoformat()}|{self.currency}".encode()

    def to_json(self) -> bytes:
        return orjson.dumps({"date": self.day.isoformat(), "currency": self.currency,
                             "rate": str(self.rate)})

    @classmethod
    def from_json(cls, value: bytes) -> FxRate:
        data = orjson.loads(value)
        return parse_rate(str(data["date"]), str(data["currency"]), str(data["rate"]))


def currency_code(text: str) -> str:
    """``text`` when it is a 3-letter uppercase code (the event contract's rule)."""
    try:
        return str(_CURRENCY.validate_python(text))
    except ValidationError:
        raise InvalidRate(f"currency must be a 3-letter uppercase code such as EUR, "
                          f"got {text!r}") from None


def parse_rate(day: str, currency: str, rate: str, base: str | None = None) -> FxRate:
    """One rate from its text fields; InvalidRate says what is wrong. ``base``: the base
    currency, whose rate must be 1."""
    try:
        when = date.fromisoformat(day.strip())
    except ValueError:
        raise InvalidRate(f"date must be YYYY-MM-DD, got {day!r}") from None
    code = currency_code(currency.strip())
    try:
        value = Decimal(rate.strip())
    except InvalidOperation:
        raise InvalidRate(f"rate must be a number, got {rate!r}") from None
    if not value.is_finite() or value <= 0:
        raise InvalidRate(f"rate must be a positive number, got {rate!r}")
    if value >= MAX_RATE:
        raise InvalidRate(f"rate must be below {MAX_RATE:,}, got {rate!r}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > RATE_DECIMALS:
        raise InvalidRate(f"rate has more than {RATE_DECIMALS} decimal places: {rate!r}")
    if base is not None and code == base and value != 1:
        raise InvalidRate(f"{code} is the base currency: its rate is always 1, got {rate!r}")
    return FxRate(when, code, value)


def parse_rate_row(fields: list[str], base: str | None = None) -> FxRate:
    """A CSV row ``date,currency,rate``."""
    if len(fields) != 3:
        raise InvalidRate(f"expected 3 fields (date,currency,rate), got {len(fields)}")
    return parse_rate(fields[0], fields[1], fields[2], base=base)


def convert(amount: Decimal, from_rate: Decimal, to_rate: Decimal) -> Decimal:
    """``amount`` at ``from_rate`` in the currency of ``to_rate``, in cents (half away from
    zero); exact before the rounding."""
    with localcontext() as ctx:
        ctx.prec = 80
        return round_cents(amount * from_rate / to_rate)


@dataclass
class RateBook:
    """Every known rate, by currency and date; answers the rate of a date."""

    base: str = "USD"
    _days: dict[str, list[date]] = field(default_factory=dict)
    _rates: dict[str, list[Decimal]] = field(default_factory=dict)

    def add(self, rate: FxRate) -> None:
        days = self._days.setdefault(rate.currency, [])
        rates = self._rates.setdefault(rate.currency, [])
        i = bisect.bisect_left(days, rate.day)
        if i < len(days) and days[i] == rate.day:
            rates[i] = rate.rate
        else:
            days.insert(i, rate.day)
            rates.insert(i, rate.rate)

    def remove(self, day: date, currency: str) -> None:
        days = self._days.get(currency, [])
        i = bisect.bisect_left(days, day)
        if i < len(days) and days[i] == day:
            del days[i]
            del self._rates[currency][i]

    def rate_on(self, currency: str, day: date) -> Decimal | None:
        """The latest rate dated on or before ``day``; 1 for the base currency."""
        if currency == self.base:
            return Decimal(1)
        days = self._days.get(currency, [])
        i = bisect.bisect_right(days, day)
        return self._rates[currency][i - 1] if i else None

    def to_reporting(self, amount: Decimal, currency: str, day: date,
                     reporting: str) -> Decimal | None:
        """``amount`` of ``currency`` on ``day`` in ``reporting``; None without a rate."""
        if currency in ("", reporting):
            return amount
        from_rate, to_rate = self.rate_on(currency, day), self.rate_on(reporting, day)
        if from_rate is None or to_rate is None:
            return None
        return convert(amount, from_rate, to_rate)

    def __len__(self) -> int:
        return sum(len(days) for days in self._days.values())


def reporting_currencies(default: str, overrides: str) -> dict[str, str]:
    """``{tenant: currency}`` from the settings, ``"*"`` the default; ValueError when
    malformed (``acme=EUR,globex=GBP``)."""
    out = {"*": currency_code(default.strip())}
    for part in filter(None, (p.strip() for p in overrides.split(","))):
        tenant, sep, code = part.partition("=")
        if not sep or not tenant.strip():
            raise ValueError(f"SHOPSTREAM_REPORTING_CURRENCIES {overrides!r}: expected "
                             "tenant=CODE pairs such as 'acme=EUR,globex=GBP'")
        try:
            out[tenant.strip()] = currency_code(code.strip())
        except InvalidRate as exc:
            raise ValueError(f"SHOPSTREAM_REPORTING_CURRENCIES, tenant {tenant.strip()}: "
                             f"{exc}") from None
    return out


def reporting_currency(currencies: dict[str, str], tenant: str) -> str:
    """The tenant's reporting currency (from :func:`reporting_currencies`)."""
    return currencies.get(tenant, currencies["*"])


def amounts_text(amounts: dict[str, Any]) -> str:
    """``{"EUR": 12.5, "JPY": 500}`` as ``"EUR 12.5; JPY 500"`` (empty: ``""``), sorted; a
    Decimal without the zeros its column pads it with (``1500.0000`` is ``1500``)."""
    def plain(amount: Any) -> str:
        if isinstance(amount, Decimal):
            return format(amount.normalize(), "f")
        return str(amount)

    return "; ".join(f"{code} {plain(amounts[code])}" for code in sorted(amounts)
                     if amounts[code])
