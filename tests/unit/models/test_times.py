"""``models.times``: every time an event carries becomes the same instant in UTC, cut (never
rounded) to the millisecond; ``format_time`` writes it as ISO 8601 with milliseconds and a
``Z``; milliseconds since the epoch convert exactly both ways. All checked against an
independent computation."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given
from hypothesis import strategies as st

from models.times import (
    datetime_to_ms,
    format_time,
    format_time_json,
    ms_to_datetime,
    parse_iso,
    to_utc_ms,
)

OFFSETS = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))


def expected(value: datetime) -> datetime:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware - timedelta(microseconds=aware.microsecond % 1000)


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2299, 12, 30),
                    timezones=st.none() | st.just(UTC) | OFFSETS))
def test_the_same_instant_in_utc_cut_to_the_millisecond(value: datetime) -> None:
    result = to_utc_ms(value)
    assert result == expected(value)
    assert result.tzinfo is UTC and result.microsecond % 1000 == 0


def test_a_time_already_in_utc_milliseconds_is_kept_as_it_is() -> None:
    value = datetime(2026, 11, 21, 8, 0, 0, 123_000, tzinfo=UTC)
    assert to_utc_ms(value) is value


def test_microseconds_are_cut_not_rounded() -> None:
    assert to_utc_ms(datetime(2026, 1, 1, 23, 59, 59, 999_999, tzinfo=UTC)) == datetime(
        2026, 1, 1, 23, 59, 59, 999_000, tzinfo=UTC)
    assert to_utc_ms(datetime(2026, 1, 1, 1, 30, 0, 1_999, tzinfo=timezone(timedelta(hours=2)))) \
        == datetime(2025, 12, 31, 23, 30, 0, 1_000, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.none() | st.just(UTC) | OFFSETS))
def test_format_time_writes_the_utc_instant_with_milliseconds_and_a_z(value: datetime) -> None:
    utc = expected(value)
    text = format_time(value)
    assert text == utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert len(text) == 24 and parse_iso(text) == utc


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.none() | st.just(UTC) | OFFSETS))
def test_format_time_json_is_format_time_as_a_json_string(value: datetime) -> None:
    """(What the serialiser writes for every time: built from bytes, not from format_time.)"""
    written = format_time_json(value)
    assert written == orjson.dumps(format_time(value))
    assert orjson.loads(written) == format_time(value)


class _Stamp(datetime):
    """A datetime subclass, as pandas' Timestamp is."""


def test_format_time_takes_a_datetime_subclass() -> None:
    assert format_time(_Stamp(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)) == "2026-01-02T03:04:05.678Z"
    assert format_time_json(_Stamp(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)) \
        == b'"2026-01-02T03:04:05.678Z"'


def test_format_time_pads_every_part() -> None:
    assert format_time(datetime(999, 2, 3, 4, 5, 6, 7_999)) == "0999-02-03T04:05:06.007Z"
    assert format_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000Z"
    assert format_time_json(datetime(2026, 1, 1, tzinfo=UTC)) == b'"2026-01-01T00:00:00.000Z"'
    assert format_time_json(datetime(999, 2, 3, 4, 5, 6, 7_999, tzinfo=UTC)) \
        == b'"0999-02-03T04:05:06.007Z"'


# milliseconds since the epoch of 1900-01-01 and 2300-01-01 (what the columns hold)
FIRST_MS, END_MS = -2_208_988_800_000, 10_413_792_000_000


@given(st.integers(min_value=FIRST_MS, max_value=END_MS))
def test_milliseconds_and_datetimes_convert_exactly_both_ways(ms: int) -> None:
    """(Through a float, one time in about 170 came back a millisecond short.)"""
    value = ms_to_datetime(ms)
    assert value.tzinfo is UTC
    assert calendar.timegm(value.timetuple()) * 1000 + value.microsecond // 1000 == ms
    assert datetime_to_ms(value) == ms


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2299, 12, 30),
                    timezones=st.none() | st.just(UTC) | OFFSETS))
def test_datetime_to_ms_cuts_to_the_millisecond(value: datetime) -> None:
    utc = expected(value)
    assert datetime_to_ms(value) == calendar.timegm(utc.timetuple()) * 1000 + utc.microsecond // 1000


def test_a_time_a_float_got_wrong() -> None:
    assert datetime_to_ms(parse_iso("2039-04-06T00:05:15.292Z")) == 2185661115292
