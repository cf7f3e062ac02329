"""Time helpers, defined once: every time in shopstream is an aware UTC datetime with
millisecond precision, or an int of milliseconds since the epoch (event time in the live
state). A naive datetime is taken as UTC everywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

# orjson writes a UTC datetime as "YYYY-MM-DDTHH:MM:SSZ" (quoted) with these options, about
# twice as fast as isoformat(timespec="milliseconds"); format_time adds the milliseconds
_SECONDS_Z = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS
# the milliseconds, the "Z" and the closing quote, by millisecond: appended to orjson's quoted
# seconds less their 'Z"' (format_time_json)
_MILLIS_Z_QUOTE = tuple(f'.{millis:03d}Z"'.encode() for millis in range(1000))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """The same instant as an aware UTC datetime (a naive one is taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_utc_ms(value: datetime) -> datetime:
    """Normalise to an aware UTC datetime truncated to milliseconds. (Called for every time
    of every event: the constructor is about twice as fast as ``replace(microsecond=...)``.)"""
    if value.tzinfo is not UTC:
        value = as_utc(value)
    micros = value.microsecond
    if not micros % 1000:
        return value
    return datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                    micros - micros % 1000, UTC, fold=value.fold)


def parse_iso(text: str) -> datetime:
    """ISO 8601 (``Z`` or an offset, or naive = UTC) -> aware UTC datetime. Raises ValueError."""
    value = datetime.fromisoformat(text)  # (Python 3.11 reads "Z" itself)
    return value if value.tzinfo is UTC else as_utc(value)


def format_time(value: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z`` (a naive time is taken as UTC; the
    microseconds are cut, not rounded). Called for every time of every event written."""
    if value.tzinfo is not UTC:
        value = as_utc(value)
    if type(value) is not datetime:  # a subclass (pandas' Timestamp): orjson writes none
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return f"{orjson.dumps(value, option=_SECONDS_Z)[1:-2].decode()}.{value.microsecond // 1000:03d}Z"


def format_time_json(value: datetime) -> bytes:
    """:func:`format_time` as a quoted JSON string, for a serialiser's ``orjson.Fragment``
    (every canonical event has two or three times: this costs about half of format_time)."""
    if value.tzinfo is not UTC or type(value) is not datetime:
        return orjson.dumps(format_time(value))
    return orjson.dumps(value, option=_SECONDS_Z)[:-2] + _MILLIS_Z_QUOTE[value.microsecond // 1000]


def ms_to_datetime(ms: int) -> datetime:
    """Milliseconds since the epoch -> aware UTC datetime. Exact: integer arithmetic, where
    ``datetime.fromtimestamp(ms / 1000)`` goes through a float and is a millisecond off for
    many times after about 2250. (Positional days, seconds and microseconds: a fifth faster than
    ``milliseconds=``.)"""
    return EPOCH + timedelta(0, ms // 1000, ms % 1000 * 1000)


def datetime_to_ms(value: datetime) -> int:
    """Aware (or naive = UTC) datetime -> milliseconds since the epoch (a part of a
    millisecond is cut). Exact: ``int(value.timestamp() * 1000)`` goes through a float and
    gave one millisecond less for about one time in 170."""
    delta = as_utc(value) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def parse_iso_ms(text: str) -> int:
    """ISO 8601 -> milliseconds since the epoch (how canonical ``timestamp`` is read)."""
    return datetime_to_ms(parse_iso(text))


def format_ms(ms: int) -> str | None:
    """Milliseconds -> ISO 8601 UTC text; None for 0 (no time yet)."""
    return format_time(ms_to_datetime(ms)) if ms else None
