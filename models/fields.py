"""Reusable field types: ids, money, quantities, currencies.

Each type carries its rule, and a violation raises a ``PydanticCustomError``
whose type is one of the stable codes in :mod:`models.errors`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from models.errors import Code
from models.money import CENT, InvalidMoney, parse_money

_CURRENCY = re.compile(r"^[A-Z]{3}$")
# a tenant (a shop): what API keys are issued for, what events carry, a part of live-state keys
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TENANT_RULE = "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"


def _to_id(value: Any) -> Any:
    if type(value) is str:  # the common case first
        stripped = value.strip()
        if stripped:
            return stripped
        raise PydanticCustomError(Code.ID_EMPTY, "id must not be empty or blank")
    if isinstance(value, bool):
        raise PydanticCustomError(Code.TYPE_INVALID, "an id must be a string or an integer")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            raise PydanticCustomError(Code.ID_EMPTY, "id must not be empty or blank")
        return stripped
    raise PydanticCustomError(Code.TYPE_INVALID, "an id must be a string or an integer")


_TENANTS_SEEN: set[str] = set()  # tenants already checked (a few per deployment)
_TENANTS_REMEMBERED = 10_000


def _to_tenant(value: Any) -> Any:
    """An id (:func:`_to_id`) that follows the tenant rule."""
    if type(value) is str and value in _TENANTS_SEEN:  # the common case: a known tenant
        return value
    tenant = _to_id(value)
    if not TENANT_PATTERN.match(tenant):
        # (pydantic fills {names} in, not format specs: the value is quoted here)
        raise PydanticCustomError(Code.VALUE_INVALID, "a tenant is {rule}, got {value}",
                                  {"rule": TENANT_RULE, "value": repr(tenant[:140])})
    if len(_TENANTS_SEEN) < _TENANTS_REMEMBERED:
        _TENANTS_SEEN.add(tenant)
    return tenant


def _to_decimal(value: Any) -> Any:
    """Money arrives as a JSON number or a string; both become an exact Decimal
    (:func:`models.money.parse_money`: send money as a string for more than 15 digits)."""
    try:
        return parse_money(value)
    except InvalidMoney as exc:
        raise PydanticCustomError(Code.TYPE_INVALID, str(exc)) from None


def _positive_price(value: Decimal) -> Decimal:
    if value <= 0:
        raise PydanticCustomError(
            Code.PRICE_NOT_POSITIVE, "price must be > 0, got {value}", {"value": str(value)}
        )
    return value


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise PydanticCustomError(
            Code.AMOUNT_NEGATIVE, "amount must be >= 0, got {value}", {"value": str(value)}
        )
    return value


INT64_MAX = 2**63 - 1


def _to_int(value: Any) -> Any:
    """An integer from a JSON number or digit string, within 64 bits (what every later stage
    can write); else a validation error."""
    if isinstance(value, bool):
        raise PydanticCustomError(Code.TYPE_INVALID, "must be an integer")
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) <= 40:
        number = int(value.strip())
    elif isinstance(value, int):
        number = value
    else:
        raise PydanticCustomError(Code.TYPE_INVALID, "must be an integer")
    if abs(number) > INT64_MAX:
        raise PydanticCustomError(Code.VALUE_OUT_OF_RANGE, "{value} is out of range (64 bits)",
                                  {"value": str(value)[:40]})
    return number


def _positive_quantity(value: int) -> int:
    if value <= 0:
        raise PydanticCustomError(
            Code.QUANTITY_NOT_POSITIVE, "quantity must be > 0, got {value}", {"value": value}
        )
    return value


def _stock(value: int) -> int:
    if value < 0:
        raise PydanticCustomError(
            Code.STOCK_NEGATIVE, "stock must be >= 0, got {value}", {"value": value}
        )
    return value


def _currency(value: Any) -> Any:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise PydanticCustomError(
            Code.CURRENCY_INVALID,
            "currency must be a 3-letter uppercase ISO 4217 code, got '{value}'",
            {"value": value},
        )
    return value


def _rating(value: Decimal) -> Decimal:
    if not Decimal(0) <= value <= Decimal(5):
        raise PydanticCustomError(
            Code.RATING_OUT_OF_RANGE, "rating must be within 0..5, got {value}", {"value": str(value)}
        )
    return value


def _read_then(read: Callable[[Any], Any], check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """One validator call that reads a value and checks it (a typed field has many: one call
    each, not two)."""
    def read_and_check(value: Any) -> Any:
        return check(read(value))
    read_and_check.__name__ = f"{read.__name__}{check.__name__}"
    return read_and_check


Id = Annotated[str, BeforeValidator(_to_id)]
Tenant = Annotated[str, BeforeValidator(_to_tenant)]
Amount = Annotated[Decimal, BeforeValidator(_read_then(_to_decimal, _non_negative))]
Price = Annotated[Decimal, BeforeValidator(_read_then(_to_decimal, _positive_price))]
Quantity = Annotated[int, BeforeValidator(_read_then(_to_int, _positive_quantity))]
Stock = Annotated[int, BeforeValidator(_read_then(_to_int, _stock))]
Currency = Annotated[str, BeforeValidator(_currency)]
Rating = Annotated[Decimal, BeforeValidator(_read_then(_to_decimal, _rating))]
Position = Annotated[int, BeforeValidator(_to_int)]


def within_cent(a: Decimal, b: Decimal) -> bool:
    """True when two amounts agree within 0.01 (rounding on either side is fine)."""
    return abs(a - b) <= CENT
