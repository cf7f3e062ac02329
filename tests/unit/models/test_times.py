"""``models.times.to_utc_ms``: every time an event carries becomes the same instant in UTC,
cut (never rounded) to the millisecond; ``format_time`` writes it as ISO 8601 with milliseconds
and a ``Z``. Both checked against an independent computation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from models.times import format_time, parse_iso, to_utc_ms

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


def test_format_time_pads_every_part() -> None:
    assert format_time(datetime(999, 2, 3, 4, 5, 6, 7_999)) == "0999-02-03T04:05:06.007Z"
    assert format_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000Z"
