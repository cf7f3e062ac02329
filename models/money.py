"""Money, defined once: an exact ``Decimal`` from what JSON carries.

The one behaviour: a JSON number is read through its shortest float representation
(``repr``), exact for up to 15 significant digits; a string is parsed as written; anything
else (a bool, a list, text that is not a number, NaN or Infinity) is invalid money and raises
:class:`InvalidMoney`. The contract turns that into a ``type_invalid`` validation error, so
invalid money never reaches a stage; nothing reads garbage as 0.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

ZERO = Decimal(0)
CENT = Decimal("0.01")


class InvalidMoney(ValueError):
    """A value that is not an amount of money."""


def parse_money(value: Any) -> Decimal:
    """An exact Decimal from a JSON number, a numeric string or a Decimal; else InvalidMoney.
    Cached for numbers and short strings (prices repeat; a Decimal is immutable): the
    contract reads each amount twice, for its limits and for its typed field."""
    return _parse_cached(value) if cacheable(value) else _parse(value)


_CACHED_TEXT = 40


def cacheable(value: Any) -> bool:
    """Whether what is derived from an amount as sent may be cached on it (with
    ``lru_cache(typed=True)``: 1 and 1.0 and True apart): a number or a short text, not a float
    zero (0.0 and -0.0 are one key, two Decimals)."""
    kind = type(value)
    return (kind is float and bool(value)) or kind is int or (kind is str and len(value) <= _CACHED_TEXT)


@lru_cache(maxsize=8192, typed=True)  # typed: 1 and 1.0 (and True) are cached apart
def _parse_cached(value: float | int | str) -> Decimal:
    return _parse(value)


def _parse(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidMoney("amount must be a number")
    else:
        try:
            result = Decimal(repr(value) if isinstance(value, float) else value)
        except InvalidOperation:
            raise InvalidMoney("amount is not a number") from None
    if not result.is_finite():
        raise InvalidMoney("amount must be finite")
    return result


def money_or_zero(value: Any) -> Decimal:
    """An optional amount of a canonical (already validated) event: absent is 0."""
    return ZERO if value is None else parse_money(value)


def round_cents(value: Decimal) -> Decimal:
    """To whole cents, half up (what a shop's checkout shows)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
