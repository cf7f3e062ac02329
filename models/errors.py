"""Stable machine codes for every way an event can be invalid.

The codes are part of the public contract: dashboards, dead-letter consumers and
``shopstream validate`` users match on them, so they never change meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    # framing: the bytes never became a JSON object
    ENCODING_INVALID = "encoding_invalid"
    TOO_LARGE = "too_large"
    JSON_INVALID = "json_invalid"
    NOT_OBJECT = "not_object"
    # envelope
    TYPE_UNKNOWN = "type_unknown"
    EVENT_MISSING = "event_missing"
    IDENTITY_MISSING = "identity_missing"
    ID_EMPTY = "id_empty"
    TIMESTAMP_INVALID = "timestamp_invalid"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    # field level
    FIELD_REQUIRED = "field_required"
    TYPE_INVALID = "type_invalid"
    VALUE_INVALID = "value_invalid"
    PRICE_NOT_POSITIVE = "price_not_positive"
    QUANTITY_NOT_POSITIVE = "quantity_not_positive"
    AMOUNT_NEGATIVE = "amount_negative"
    CURRENCY_INVALID = "currency_invalid"
    RATING_OUT_OF_RANGE = "rating_out_of_range"
    STOCK_NEGATIVE = "stock_negative"
    # limits: what every later stage (serialiser, ClickHouse columns, Kafka) can hold
    TOO_DEEP = "too_deep"
    TOO_MANY_FIELDS = "too_many_fields"
    TOO_LONG = "too_long"
    VALUE_OUT_OF_RANGE = "value_out_of_range"
    PRECISION_EXCEEDED = "precision_exceeded"
    # cross-field rules
    LINE_TOTAL_MISMATCH = "line_total_mismatch"
    ORDER_TOTAL_MISMATCH = "order_total_mismatch"
    ORDER_NO_PRODUCTS = "order_no_products"
    # the contract itself failed on this event (a shopstream bug): dead-lettered, reported
    CHECK_FAILED = "check_failed"


@dataclass(frozen=True, slots=True)
class Issue:
    """One reason an event is invalid: a stable code, the field path and a message."""

    code: str
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": str(self.code), "path": self.path, "message": self.message}


class ShopstreamError(Exception):
    """Root of every error shopstream raises on purpose."""


class ConfigurationError(ShopstreamError):
    """Settings or command-line options that cannot work together."""
