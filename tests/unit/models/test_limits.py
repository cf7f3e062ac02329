"""The contract's limits (models/limits.py): one test per limit, the value at the limit is
accepted and the first value past it is refused with its stable code and path."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.flat import DEFAULT_ALIASES
from models.limits import (
    INT32_MAX,
    MAX_DEPTH,
    MAX_FIELDS,
    MAX_ID_CHARS,
    MAX_URL_CHARS,
    limit_issues,
    short_enough,
    small_enough,
)
from models.validation import Rules, validate_bytes, validate_obj
from tests.unit.conftest import NOW, codes, order, track


def nested(levels: int) -> dict[str, Any]:
    """An object ``levels`` objects deep (itself included)."""
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def wrapped_in_lists(levels: int) -> list[Any]:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_the_limits_are_the_documented_numbers() -> None:
    assert (MAX_DEPTH, MAX_FIELDS, MAX_ID_CHARS, MAX_URL_CHARS, INT32_MAX) == (
        32, 2_000, 1_024, 8_192, 2**31 - 1)


def test_properties_nested_more_than_32_deep_are_too_deep(check) -> None:
    assert check(track("Wishlist Shared", nested(MAX_DEPTH))).ok
    assert codes(check(track("Wishlist Shared", nested(MAX_DEPTH + 1)))) == [
        ("too_deep", "properties")]
    # arrays count as levels too (the properties object is the first level)
    assert check(track("Wishlist Shared", {"a": wrapped_in_lists(MAX_DEPTH - 1)})).ok
    assert codes(check(track("Wishlist Shared", {"a": wrapped_in_lists(MAX_DEPTH)}))) == [
        ("too_deep", "properties")]


def test_context_and_other_top_level_fields_are_held_to_the_same_depth(check) -> None:
    assert codes(check(track("Product Viewed", {"product_id": "p1"},
                             context=nested(MAX_DEPTH + 1)))) == [("too_deep", "context")]
    # an extra top-level field is kept and serialised like the rest
    assert check(track("Product Viewed", {"product_id": "p1"}, extra=nested(MAX_DEPTH))).ok
    assert codes(check(track("Product Viewed", {"product_id": "p1"},
                             extra=nested(MAX_DEPTH + 1)))) == [("too_deep", "extra")]


def test_more_than_2000_fields_are_too_many(check) -> None:
    assert check(track("Wishlist Shared", {f"k{i}": i for i in range(MAX_FIELDS)})).ok
    assert codes(check(track("Wishlist Shared", {f"k{i}": i for i in range(MAX_FIELDS + 1)}))) == [
        ("too_many_fields", "properties")]
    # array items count, at every level together
    assert codes(check(track("Wishlist Shared", {"items": list(range(MAX_FIELDS))}))) == [
        ("too_many_fields", "properties")]


def test_a_product_id_over_1024_characters_is_too_long(check) -> None:
    assert check(track("Product Viewed", {"product_id": "p" * MAX_ID_CHARS})).ok
    assert codes(check(track("Product Viewed", {"product_id": "p" * (MAX_ID_CHARS + 1)}))) == [
        ("too_long", "properties.product_id")]
    lines = order(products=[{"product_id": "p" * (MAX_ID_CHARS + 1), "price": "19.99",
                             "quantity": 2, "line_total": "39.98"}])
    assert codes(check(track("Order Completed", lines))) == [
        ("too_long", "properties.products.0.product_id")]


def test_a_user_id_over_1024_characters_is_too_long(check) -> None:
    assert check(track("Product Viewed", {"product_id": "p1"}, userId="u" * MAX_ID_CHARS)).ok
    assert codes(check(track("Product Viewed", {"product_id": "p1"},
                             userId="u" * (MAX_ID_CHARS + 1)))) == [("too_long", "userId")]


def test_a_page_url_over_8192_characters_is_too_long(check) -> None:
    url = "https://shop.example/" + "a" * (MAX_URL_CHARS - len("https://shop.example/"))
    assert check(track("Product Viewed", {"product_id": "p1"}, context={"page": {"url": url}})).ok
    assert codes(check(track("Product Viewed", {"product_id": "p1"},
                             context={"page": {"url": url + "b"}}))) == [
        ("too_long", "context.page.url")]
    page = {"type": "page", "userId": "u1", "timestamp": "2026-11-21T11:00:00Z",
            "properties": {"url": url + "b"}}
    assert codes(check(page)) == [("too_long", "properties.url")]


def test_a_quantity_beyond_int32_is_out_of_range(check) -> None:
    def added(quantity: Any) -> dict[str, Any]:
        return track("Product Added", {"product_id": "p1", "cart_id": "c1", "quantity": quantity})

    assert check(added(INT32_MAX)).ok
    assert codes(check(added(INT32_MAX + 1))) == [("value_out_of_range", "properties.quantity")]
    assert codes(check(added(str(INT32_MAX + 1)))) == [("value_out_of_range", "properties.quantity")]
    assert codes(check(added("9" * 5000))) == [("value_out_of_range", "properties.quantity")]
    assert codes(check(track("Wishlist Shared", {"quantity": 2**31}))) == [
        ("value_out_of_range", "properties.quantity")]


@pytest.mark.parametrize("quantity", ["0.00001", 1.5, "²", "--1", "1e3", True, [1]])
def test_a_quantity_that_is_not_a_whole_number_is_type_invalid(check, quantity: Any) -> None:
    # custom events too: the quantity column is an Int32 for every event
    assert codes(check(track("Wishlist Shared", {"quantity": quantity}))) == [
        ("type_invalid", "properties.quantity")]


def test_money_at_or_above_10_to_the_14_is_out_of_range(check) -> None:
    assert check(track("Product Viewed", {"product_id": "p1", "price": "99999999999999"})).ok
    assert codes(check(track("Product Viewed", {"product_id": "p1", "price": 10**14}))) == [
        ("value_out_of_range", "properties.price")]
    assert codes(check(track("Order Completed", order(revenue="100000000000000")))) == [
        ("value_out_of_range", "properties.revenue")]
    assert codes(check(track("Wishlist Shared", {"revenue": "1E+20"}))) == [
        ("value_out_of_range", "properties.revenue")]


def test_money_with_more_than_4_decimals_is_precision_exceeded(check) -> None:
    assert check(track("Product Viewed", {"product_id": "p1", "price": "19.9900"})).ok
    assert codes(check(track("Product Viewed", {"product_id": "p1", "price": "0.00001"}))) == [
        ("precision_exceeded", "properties.price")]
    assert codes(check(track("Wishlist Shared", {"value": "1.23456"}))) == [
        ("precision_exceeded", "properties.value")]


def test_one_amount_breaking_a_limit_in_two_places_is_reported_at_each(check) -> None:
    # the verdict on an amount is cached on its value: the path is each field's own
    for amount in ("0.00001", 10**14, 1.123456):
        products = [{"product_id": "p1", "price": amount}, {"product_id": "p2", "price": amount}]
        result = check(track("Wishlist Shared", {"value": amount, "products": products}))
        assert [path for _, path in codes(result)] == [
            "properties.value", "properties.products.0.price", "properties.products.1.price"]
        assert len({code for code, _ in codes(result)}) == 1
        assert len({issue.message for issue in result.issues}) == 1


def test_invalid_money_on_a_custom_event_is_type_invalid_never_zero(check) -> None:
    assert codes(check(track("Wishlist Shared", {"total": "abc"}))) == [
        ("type_invalid", "properties.total")]
    assert codes(check(track("Wishlist Shared", {"price": "NaN"}))) == [
        ("type_invalid", "properties.price")]


def test_a_timestamp_before_2000_is_invalid(check) -> None:
    assert check(track("Product Viewed", {"product_id": "p1"}, timestamp="2000-01-01T00:00:00Z")).ok
    assert codes(check(track("Product Viewed", {"product_id": "p1"},
                             timestamp="1999-12-31T23:59:59Z"))) == [("timestamp_invalid", "timestamp")]
    assert codes(check(track("Product Viewed", {"product_id": "p1"}, timestamp=0))) == [
        ("timestamp_invalid", "timestamp")]


def test_the_limits_apply_to_raw_bytes_as_the_stages_receive_them() -> None:
    body = orjson.dumps(track("Product Added", {"product_id": "p1", "cart_id": "c1",
                                                "quantity": 2**31}))
    assert codes(validate_bytes(body, Rules(), NOW)) == [("value_out_of_range", "properties.quantity")]
    deep = b'{"type":"track","event":"X","userId":"u1","properties":' + b'{"a":' * 33 + b"1" + b"}" * 34
    assert codes(validate_bytes(deep, Rules(), NOW)) == [("too_deep", "properties")]


def test_text_limits_hold_on_raw_bytes_past_the_shortcut() -> None:
    """Validation skips the length checks of an event whose bytes are too few to break them
    (models.limits.short_enough); one byte more and they run."""
    long_id = "p" * (MAX_ID_CHARS + 1)
    body = orjson.dumps(track("Product Viewed", {"product_id": long_id}))
    assert codes(validate_bytes(body, Rules(), NOW)) == [("too_long", "properties.product_id")]
    # an alias file may name an event longer than the bytes that name it
    aliases = DEFAULT_ALIASES.merged({"events": {"pv": "Viewed " + "x" * MAX_ID_CHARS}})
    short = orjson.dumps(track("pv", {"product_id": "p1"}))
    assert short_enough(short)
    assert codes(validate_bytes(short, Rules(aliases=aliases), NOW)) == [("too_long", "event")]


def test_a_flat_event_is_held_to_the_length_limits_however_short() -> None:
    """A flat event's name is made of its fields (a list is written out as Python does,
    longer than its JSON), so the shortcut does not apply to it."""
    raw = orjson.dumps({"category": [0] * 480, "event_type": "x", "user_id": "u"})
    assert short_enough(raw)
    assert ("too_long", "event") in codes(validate_bytes(raw, Rules(), NOW))


TEXTS = (st.text(max_size=40) | st.integers(min_value=700, max_value=1_030).map(lambda n: "é" * (n // 2))
         | st.integers(min_value=700, max_value=1_030).map(lambda n: "a" * n)
         | st.integers(min_value=-(2**63), max_value=2**63 - 1))
FLAT_CATEGORIES = st.integers(min_value=300, max_value=500).map(lambda n: [0] * n) | TEXTS


@given(user_id=TEXTS, product_id=TEXTS, session=TEXTS, url=TEXTS, category=FLAT_CATEGORIES)
def test_the_shortcut_changes_no_result(user_id: Any, product_id: Any, session: Any, url: Any,
                                        category: Any) -> None:
    """What validation of bytes decides with the shortcut (models.limits.short_enough) is
    what the full checks decide, for Segment-style and flat events near the limits."""
    segment = track("Product Added", {"product_id": product_id, "url": url,
                                      "products": [{"product_id": product_id, "price": 1}]},
                    userId=user_id, context={"sessionId": session, "page": {"url": url}})
    flat = {"category": category, "event_type": "x", "user_id": user_id, "product_id": product_id}
    for body in (segment, flat):
        raw = orjson.dumps(body)
        fast = validate_bytes(raw, Rules(), NOW)
        full = validate_obj(orjson.loads(raw), Rules(), NOW, shape_checked=small_enough(raw))
        assert (fast.issues, fast.event) == (full.issues, full.event)
        if short_enough(raw) and body is segment:
            assert limit_issues(orjson.loads(raw), texts_checked=True) == []


def test_what_the_rows_derive_from_order_lines_is_in_range_too(check) -> None:
    def completed(*lines: dict[str, Any]) -> dict[str, Any]:
        return track("Order Completed", {"order_id": "o1", "currency": "USD", "products": list(lines)})

    big = "99999999999999"
    assert check(completed({"product_id": "p1", "price": big, "quantity": 1})).ok
    # quantity x price, the revenue of an order without a total
    assert codes(check(completed({"product_id": "p1", "price": big, "quantity": 10}))) == [
        ("value_out_of_range", "properties.products.0")]
    # the sum of the lines
    assert codes(check(completed({"product_id": "p1", "price": "60000000000000"},
                                 {"product_id": "p2", "price": "60000000000000"}))) == [
        ("value_out_of_range", "properties.products")]
    # the order's quantity column is the sum of its lines' quantities
    assert codes(check(completed({"product_id": "p1", "price": "1", "quantity": INT32_MAX},
                                 {"product_id": "p2", "price": "1", "quantity": 1}))) == [
        ("value_out_of_range", "properties.products")]


def test_money_with_more_than_15_significant_digits_is_precision_exceeded(check) -> None:
    """Canonical events carry money as JSON numbers; readers that parse them as floats keep
    15 significant digits, so the contract accepts no more (exact end to end)."""
    assert check(track("Product Viewed", {"product_id": "p1", "price": "12345678901.2345"})).ok
    assert codes(check(track("Product Viewed", {"product_id": "p1",
                                                "price": "1234567890123.4567"}))) == [
        ("precision_exceeded", "properties.price")]
    assert check(track("Product Viewed", {"product_id": "p1", "price": "100000000000000"[:14]})).ok
