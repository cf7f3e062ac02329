"""Values at the edges, each of which once got through the contract and stopped a stage (the
validation stage raised and its partition was retried for ever, or a later stage did):
they are refused with their code, or stored the way later stages read them."""

from __future__ import annotations

from decimal import Decimal

import pytest

import models.validation as validation
from models.envelope import name_of
from models.errors import Code
from models.keys import ApiKeyError, check_tenant
from tests.unit.conftest import codes, order, track


@pytest.mark.parametrize("field, value", [
    ("timestamp", "9999-12-31T23:59:59-14:00"),  # past year 9999 once in UTC
    ("timestamp", "0001-01-01T00:00:00+01:00"),  # before year 1 once in UTC
    ("sentAt", "9999-12-31T23:59:59-14:00"),
    ("receivedAt", "2300-01-01T00:00:00Z"),  # after any DateTime64 column (it is stored)
    ("receivedAt", "1850-01-01T00:00:00Z"),  # before any
])
def test_times_utc_or_the_columns_cannot_hold_are_invalid(check, field, value):
    result = check(track("Product Viewed", {"product_id": "p1"}, **{field: value}))
    assert (str(Code.TIMESTAMP_INVALID), field) in codes(result), codes(result)


def test_other_times_keep_the_codes_they_had(check):
    ahead = check(track("Product Viewed", {"product_id": "p1"}, timestamp="3026-01-01T00:00:00Z"))
    assert codes(ahead) == [(str(Code.TIMESTAMP_IN_FUTURE), "timestamp")]
    early = check(track("Product Viewed", {"product_id": "p1"}, timestamp="1850-01-01T00:00:00Z"))
    assert codes(early) == [(str(Code.TIMESTAMP_INVALID), "timestamp")]
    # sentAt is kept as sent and stored nowhere: any time UTC can hold is fine
    assert check(track("Product Viewed", {"product_id": "p1"}, sentAt="1850-01-01T00:00:00Z")).ok
    assert check(track("Product Viewed", {"product_id": "p1"}, receivedAt="2299-12-31T23:59:59Z")).ok


def test_a_float_zero_keeps_its_sign_whatever_was_parsed_before():
    from models.money import parse_money

    assert str(parse_money(0.0)) == "0.0" and str(parse_money(-0.0)) == "-0.0"
    assert str(parse_money(19.9)) == "19.9" and parse_money(19.9) is parse_money(19.9)  # cached


def test_the_machine_failing_is_not_the_events_fault(check, monkeypatch):
    def out_of_memory(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr(validation, "limit_issues", out_of_memory)
    with pytest.raises(MemoryError):  # the stage fails and retries it, no dead letter
        check(track("Product Viewed", {"product_id": "p1"}))


@pytest.mark.parametrize("amount", ["1e1000000", "-1E+999999", "1e14", 10**20])
def test_amounts_out_of_range_are_refused_without_arithmetic_that_overflows(check, amount):
    custom = check(track("Wishlist Shared", {"price": amount}))
    assert codes(custom) == [(str(Code.VALUE_OUT_OF_RANGE), "properties.price")]
    typed = check(track("Product Added", {"product_id": "p1", "price": amount, "quantity": 1}))
    assert codes(typed) == [(str(Code.VALUE_OUT_OF_RANGE), "properties.price")]
    assert check(track("Wishlist Shared", {"price": "99999999999999.9"})).ok  # 15 digits


def test_a_padded_event_name_is_checked_and_stored_as_the_event_it_names(check):
    result = check(track(" Order Completed ", order()))
    assert result.ok and result.event is not None
    assert result.event.event == "Order Completed"
    assert result.event.properties["total"] == Decimal("46.17")  # typed: money as Decimals
    broken = check(track(" Order Completed ", order(total="oops")))
    assert (str(Code.TYPE_INVALID), "properties.total") in codes(broken)


@pytest.mark.parametrize("tenant", ["a|b", "a b", "-shop", "x" * 129])
def test_a_tenant_follows_the_one_tenant_rule_of_api_keys(check, tenant):
    result = check(track("Product Viewed", {"product_id": "p1"}, tenant=tenant))
    assert codes(result) == [(str(Code.VALUE_INVALID), "tenant")], codes(result)
    with pytest.raises(ApiKeyError):
        check_tenant(tenant)
    assert check(track("Product Viewed", {"product_id": "p1"}, tenant="shop-1.eu_2")).ok


def test_only_track_calls_are_named_events():
    assert name_of({"type": "track", "event": "Order Completed"}) == "Order Completed"
    assert name_of({"type": "page", "event": "Order Completed", "name": "Home"}) == "page"
    assert name_of({"type": "identify"}) == "identify"
    assert name_of({}) == ""


def test_a_check_that_fails_refuses_the_event_instead_of_raising(check, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr(validation, "limit_issues", broken)
    result = check(track("Product Viewed", {"product_id": "p1"}))
    assert codes(result) == [(str(Code.CHECK_FAILED), "")]
    assert "RuntimeError: a bug in a check" in result.issues[0].message
