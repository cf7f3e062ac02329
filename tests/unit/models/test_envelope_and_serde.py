"""Envelope normalisation, the flat envelope, serde round trips and exact money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from models.envelope import UtcTime, _utc_time
from models.flat import flat_to_segment, is_flat
from models.serde import event_from_json, event_to_json
from models.validation import Rules, validate_bytes, validate_obj
from tests.unit.conftest import NOW, order, track


def test_timestamp_normalised_to_utc_milliseconds(check):
    result = check(track("Product Viewed", {"product_id": "p"},
                         timestamp="2026-11-20T10:00:00.123456+01:00"))
    assert result.event.timestamp == datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)


def test_unix_milliseconds_and_naive_times_are_utc(check):
    ms = check(track("Product Viewed", {"product_id": "p"}, timestamp=1_700_000_000_123))
    naive = check(track("Product Viewed", {"product_id": "p"}, timestamp="2026-01-02T03:04:05"))
    assert ms.event.timestamp == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert naive.event.timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_missing_timestamp_takes_received_time(check):
    body = track("Product Viewed", {"product_id": "p"})
    del body["timestamp"]
    result = check(body)
    assert result.event.timestamp == NOW == result.event.receivedAt


def test_default_tenant_and_explicit_tenant(check):
    assert check(track("Logged In")).event.tenant == "default"
    assert check(track("Logged In"), Rules(default_tenant="acme")).event.tenant == "acme"
    assert check(track("Logged In", tenant="shop-2")).event.tenant == "shop-2"


def test_missing_message_id_is_deterministic(check):
    body = track("Product Viewed", {"product_id": "p"})
    del body["messageId"]
    first, again = check(body).event.messageId, check(dict(body)).event.messageId
    other = check({**body, "userId": "u2"}).event.messageId
    assert first == again != other


def test_context_fields_and_session_alias(check):
    body = track("Product Viewed", {"product_id": "p"}, context={
        "session_id": "s1", "campaign": {"source": "google", "medium": "cpc", "name": "x"},
        "page": {"url": "https://shop/p", "referrer": "https://google"}, "ip": "203.0.113.9",
        "userAgent": "UA", "locale": "de-DE", "library": {"name": "web", "version": "1"},
        "custom": 1})
    ctx = check(body).event.context
    assert ctx.sessionId == "s1" and ctx.campaign.source == "google"
    assert ctx.page.referrer == "https://google" and ctx.model_extra == {"custom": 1}


def test_flat_envelope_maps_onto_product_added(check):
    flat = {"category": "product", "event_type": "cart_add", "user_id": 5, "session_id": "s9",
            "product_id": "p1", "quantity": 2, "price": "3.50", "ip_address": "198.51.100.1",
            "user_agent": "UA", "data": {"cart_id": "c1", "name": "Mug"}}
    assert is_flat(flat)
    result = check(flat)
    assert result.ok
    e = result.event
    assert (e.type, e.event, e.userId) == ("track", "Product Added", "5")
    assert e.properties == {"product_id": "p1", "quantity": 2, "price": Decimal("3.50"),
                            "cart_id": "c1", "name": "Mug"}
    assert (e.context.sessionId, e.context.ip, e.context.userAgent) == ("s9", "198.51.100.1", "UA")


def test_flat_order_uses_order_rules(check):
    flat = {"category": "order", "event_type": "complete", "user_id": "u", "order_id": "o",
            "order_total": "10.00", "items_count": 1, "payment_method": "card"}
    assert [i.code for i in check(flat).issues] == ["order_no_products"]
    flat["data"] = {"products": [{"product_id": "p", "price": "10.00", "quantity": 1}]}
    result = check(flat)
    assert result.ok and result.event.event == "Order Completed"
    assert result.event.properties["total"] == Decimal("10.00")


def test_flat_unknown_pair_is_custom_event_and_page_view_is_page():
    assert flat_to_segment({"category": "wishlist", "event_type": "share"})["event"] == (
        "wishlist share")
    assert flat_to_segment({"category": "page", "event_type": "view"})["type"] == "page"


def test_canonical_json_keeps_money_digits(check):
    event = check(track("Order Completed", order(subtotal="39.980", total="46.170"))).event
    raw = event_to_json(event)
    assert b'"subtotal":39.980' in raw and b'"price":19.99' in raw
    assert b'"timestamp":"2026-11-21T11:00:00.000Z"' in raw


def test_money_as_json_number_is_exact(check):
    raw = b'{"type":"track","event":"Product Viewed","userId":"u","properties":' \
          b'{"product_id":"p","price":0.1}}'
    event = validate_bytes(raw, Rules(), NOW).event
    assert event.properties["price"] == Decimal("0.1")


def test_canonical_round_trip(check):
    event = check(track("Order Completed", order())).event
    again = validate_bytes(event_to_json(event), Rules(), NOW).event
    assert again == event
    assert event_from_json(event_to_json(event)).messageId == event.messageId


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)


@settings(max_examples=150, deadline=None)
@given(prices=st.lists(st.tuples(money, st.integers(1, 20)), min_size=1, max_size=5),
       tax=money, shipping=money, as_string=st.booleans())
def test_any_consistent_order_round_trips_exactly(prices, tax, shipping, as_string):
    products = [{"product_id": f"p{i}", "price": str(p) if as_string else float(p),
                 "quantity": q, "line_total": str(p * q)} for i, (p, q) in enumerate(prices)]
    subtotal = sum(p * q for p, q in prices)
    props = order(products=products, subtotal=str(subtotal), tax=str(tax),
                  shipping=str(shipping), discount="0", total=str(subtotal + tax + shipping))
    first = validate_obj(track("Order Completed", props), Rules(), NOW)
    assert first.ok, first.issues
    reread = validate_bytes(event_to_json(first.event), Rules(), NOW).event
    assert reread.properties["total"] == subtotal + tax + shipping
    for (price, _), line in zip(prices, reread.properties["products"], strict=True):
        assert line["price"] == price


def test_framing_errors():
    rules = Rules(max_event_bytes=100)
    big = orjson.dumps(track("Logged In", {"pad": "x" * 200}))
    assert validate_bytes(big, rules, NOW).issues[0].code == "too_large"
    assert validate_bytes(b"\xff\xfe{}", rules, NOW).issues[0].code == "encoding_invalid"
    assert validate_bytes(b'{"type":', rules, NOW).issues[0].code == "json_invalid"
    assert validate_bytes(b"", rules, NOW).issues[0].code == "json_invalid"
    assert validate_bytes(b'"str"', rules, NOW).issues[0].code == "not_object"


# a time read as pydantic reads it, then made UTC milliseconds: what UtcTime did before its
# standard-library fast path, and still does for every other spelling
_PYDANTIC_TIME = TypeAdapter(datetime)
_UTC_TIME = TypeAdapter(UtcTime)


def _read(adapter_or_function, value):
    try:
        result = adapter_or_function(value)
    except ValidationError as exc:
        return [(e["type"], e["msg"]) for e in exc.errors(include_url=False)]
    return result, result.tzinfo is UTC


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
       st.integers(0, 61), st.integers(0, 61), st.integers(0, 999),
       st.sampled_from(["Z", "Z", "Z", "z", "+00:00"]), st.sampled_from(["T", "T", " ", "t"]))
def test_a_time_in_shopstreams_spelling_reads_as_pydantic_reads_it(
        year, month, day, hour, minute, second, millis, zone, separator):
    text = (f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
            f".{millis:03d}{zone}")
    expected = _read(lambda v: _utc_time(_PYDANTIC_TIME.validate_python(v)), text)
    assert _read(_UTC_TIME.validate_python, text) == expected, text


@pytest.mark.parametrize("value", [
    datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05.123+01:00", "2026-01-02T03:04:05Z",
    "2026-01-02T03:04:05.1234Z", "2026-02-30T03:04:05.123Z", "2026-01-02T24:00:00.000Z",
    "2026-01-02T03:04:05.12\u0663Z", "2026-W47-6T07:00:00.123Z", "2026-01-02T03:04:60.000Z",
    "0000-01-02T03:04:05.123Z", 1_767_323_045_123, "not a time"])
def test_any_other_time_reads_as_pydantic_reads_it(value):
    expected = _read(lambda v: _utc_time(_PYDANTIC_TIME.validate_python(v)), value)
    assert _read(_UTC_TIME.validate_python, value) == expected


def test_a_refused_tenant_is_named_in_the_message() -> None:
    result = validate_obj(track("Logged In", tenant="bad tenant!"), Rules(), NOW)
    issue = next(i for i in result.issues if i.path == "tenant")
    assert issue.code == "value_invalid" and issue.message.endswith("got 'bad tenant!'"), issue
