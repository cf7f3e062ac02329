"""Every validation rule of the event contract, valid and invalid side."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from models.ecommerce import EVENT_PROPERTIES
from models.validation import Rules
from tests.unit.conftest import codes, order, track

MINIMAL_PROPS = {
    "Products Searched": {"query": "shoes"},
    "Product List Viewed": {"list_id": "l1", "products": [{"product_id": "p1"}]},
    "Product List Filtered": {"products": []},
    "Product Clicked": {"product_id": "p1"},
    "Product Viewed": {"product_id": "p1", "price": "9.99", "currency": "EUR"},
    "Product Added": {"product_id": "p1", "cart_id": "c1", "quantity": 1, "price": 5},
    "Product Removed": {"product_id": "p1", "cart_id": "c1"},
    "Cart Viewed": {"cart_id": "c1", "products": [{"product_id": "p1"}]},
    "Checkout Started": {"order_id": "o1", "subtotal": 10, "total": 10},
    "Checkout Step Viewed": {"step": 1},
    "Checkout Step Completed": {"step": 2, "shipping_method": "ups"},
    "Payment Info Entered": {"step": 3, "payment_method": "card"},
    "Order Completed": order(),
    "Order Updated": order(),
    "Order Refunded": {"order_id": "o1", "total": "46.17", "currency": "USD"},
    "Order Cancelled": {"order_id": "o1"},
    "Coupon Entered": {"coupon_id": "X"},
    "Coupon Applied": {"coupon_id": "X", "discount": "2.00"},
    "Coupon Denied": {"coupon_id": "X", "reason": "expired"},
    "Coupon Removed": {"coupon_id": "X"},
    "Promotion Viewed": {"promotion_id": "pr1"},
    "Promotion Clicked": {"promotion_id": "pr1"},
    "Product Reviewed": {"product_id": "p1", "rating": 4},
    "Signed Up": {"method": "email"},
    "Logged In": {},
    "Experiment Viewed": {"experiment_id": "checkout-button", "variation_id": "green"},
}


def test_every_typed_event_has_a_valid_example():
    assert set(MINIMAL_PROPS) == set(EVENT_PROPERTIES)


@pytest.mark.parametrize("event", sorted(MINIMAL_PROPS))
def test_typed_event_valid(check, event):
    result = check(track(event, MINIMAL_PROPS[event]))
    assert result.ok, codes(result)
    assert result.event.event == event


def test_experiment_viewed_needs_the_experiment_and_the_variation(check):
    result = check(track("Experiment Viewed", {"experiment_id": 7, "variation_id": " b ",
                                               "experiment_name": "Checkout button"}))
    assert result.ok, codes(result)
    assert result.event.properties["experiment_id"] == "7"
    assert result.event.properties["variation_id"] == "b"
    assert codes(check(track("Experiment Viewed", {"experiment_id": "e1"}))) == [
        ("field_required", "properties.variation_id")]
    assert codes(check(track("Experiment Viewed", {"experiment_id": " ", "variation_id": "a"}))) == [
        ("id_empty", "properties.experiment_id")]


def test_custom_event_is_carried_untyped(check):
    result = check(track("Wishlist Shared", {"anything": [1, 2], "price": -3}))
    assert result.ok
    assert result.event.properties == {"anything": [1, 2], "price": -3}


def test_identify_and_page_are_valid(check):
    ident = check({"type": "identify", "userId": "u1", "traits": {"email": "a@b.c"}})
    page = check({"type": "page", "anonymousId": "a1", "name": "Home",
                  "properties": {"url": "https://x/", "path": "/"}})
    assert ident.ok and ident.event.traits == {"email": "a@b.c"}
    assert page.ok and page.event.properties["path"] == "/"


def test_alias_and_group_calls_are_typed(check):
    alias = check({"type": "alias", "previousId": "anon-1", "userId": "u1"})
    group = check({"type": "group", "userId": "u1", "groupId": "acme",
                   "traits": {"name": "Acme"}})
    assert alias.ok and (alias.event.previousId, alias.event.userId) == ("anon-1", "u1")
    assert group.ok and group.event.groupId == "acme"
    assert codes(check({"type": "alias", "anonymousId": "anon-1", "userId": "u1"})) == [
        ("field_required", "")]  # alias needs the previous id
    assert codes(check({"type": "alias", "previousId": "anon-1", "anonymousId": "a"})) == [
        ("field_required", "")]  # ... and the user id it becomes
    assert codes(check({"type": "group", "userId": "u1"})) == [("field_required", "")]


@pytest.mark.parametrize("price", [0, -1, "-0.01", "0"])
def test_price_must_be_positive(check, price):
    result = check(track("Product Viewed", {"product_id": "p1", "price": price}))
    assert codes(result) == [("price_not_positive", "properties.price")]


def test_price_rule_applies_inside_order_products(check):
    props = order(products=[{"product_id": "p1", "price": -5, "quantity": 1}])
    result = check(track("Order Completed", props))
    assert ("price_not_positive", "properties.products.0.price") in codes(result)


@pytest.mark.parametrize("quantity", [0, -2])
def test_quantity_must_be_positive(check, quantity):
    result = check(track("Product Added", {"product_id": "p1", "quantity": quantity}))
    assert codes(result) == [("quantity_not_positive", "properties.quantity")]


@pytest.mark.parametrize("currency", ["usd", "US", "USDT", "U$D", 840])
def test_currency_is_three_uppercase_letters(check, currency):
    result = check(track("Product Viewed", {"product_id": "p1", "currency": currency}))
    assert codes(result) == [("currency_invalid", "properties.currency")]


@pytest.mark.parametrize(
    ("field", "where"),
    [("userId", "userId"), ("messageId", "messageId"), ("anonymousId", "anonymousId")],
)
def test_ids_must_not_be_blank(check, field, where):
    body = track("Product Viewed", {"product_id": "p1"})
    body[field] = "   "
    assert ("id_empty", where) in codes(check(body))


def test_product_id_must_not_be_blank(check):
    result = check(track("Product Viewed", {"product_id": " \t"}))
    assert codes(result) == [("id_empty", "properties.product_id")]


def test_ids_are_trimmed_and_integers_accepted(check):
    result = check(track("Product Viewed", {"product_id": 42}, userId="  u7 "))
    assert result.event.userId == "u7"
    assert result.event.properties["product_id"] == "42"


def test_user_or_anonymous_id_required(check):
    body = track("Product Viewed", {"product_id": "p1"})
    del body["userId"]
    assert codes(check(body)) == [("identity_missing", "")]
    body["anonymousId"] = "anon-1"
    assert check(body).ok


def test_line_total_must_match(check):
    bad = {"product_id": "p1", "price": "10.00", "quantity": 3, "discount": "1.00",
           "line_total": "30.00"}
    result = check(track("Product Added", bad))
    assert codes(result) == [("line_total_mismatch", "properties")]


@pytest.mark.parametrize("line_total", ["29.00", "29.01", "28.99"])
def test_line_total_within_a_cent(check, line_total):
    ok = {"product_id": "p1", "price": "10.00", "quantity": 3, "discount": "1.00",
          "line_total": line_total}
    assert check(track("Product Added", ok)).ok


def test_order_total_must_match(check):
    result = check(track("Order Completed", order(total="50.00")))
    assert codes(result) == [("order_total_mismatch", "properties")]


@pytest.mark.parametrize("total", ["46.16", "46.18"])
def test_order_total_within_a_cent(check, total):
    assert check(track("Order Completed", order(total=total))).ok


def test_order_needs_a_product(check):
    result = check(track("Order Completed", order(products=[])))
    assert codes(result) == [("order_no_products", "properties")]


def test_order_needs_an_order_id(check):
    props = order()
    del props["order_id"]
    assert codes(check(track("Order Completed", props))) == [
        ("field_required", "properties.order_id")
    ]


def test_full_refund_without_products_is_valid(check):
    assert check(track("Order Refunded", {"order_id": "o1"})).ok


@pytest.mark.parametrize("rating", [-1, "5.5", 6])
def test_rating_within_zero_and_five(check, rating):
    result = check(track("Product Reviewed", {"product_id": "p1", "rating": rating}))
    assert codes(result) == [("rating_out_of_range", "properties.rating")]


@pytest.mark.parametrize("rating", [0, 5, "4.5"])
def test_rating_bounds_inclusive(check, rating):
    assert check(track("Product Reviewed", {"product_id": "p1", "rating": rating})).ok


def test_stock_not_negative(check):
    assert codes(check(track("Product Viewed", {"product_id": "p1", "stock": -1}))) == [
        ("stock_negative", "properties.stock")
    ]
    assert check(track("Product Viewed", {"product_id": "p1", "stock": 0})).ok


def test_amounts_not_negative(check):
    result = check(track("Order Completed", order(tax="-1")))
    assert ("amount_negative", "properties.tax") in codes(result)


def test_timestamp_too_far_in_future(check):
    from tests.unit.conftest import NOW

    ahead = (NOW + timedelta(days=1, minutes=1)).isoformat()
    result = check(track("Product Viewed", {"product_id": "p1"}, timestamp=ahead))
    assert codes(result) == [("timestamp_in_future", "timestamp")]
    assert "is more than 1 day ahead of" in result.issues[0].message, result.issues[0]
    within = (NOW + timedelta(hours=23)).isoformat()
    assert check(track("Product Viewed", {"product_id": "p1"}, timestamp=within)).ok


def test_future_skew_is_configurable(check):
    from tests.unit.conftest import NOW

    ahead = (NOW + timedelta(minutes=10)).isoformat()
    rules = Rules(max_future_skew=timedelta(minutes=5))
    body = track("Product Viewed", {"product_id": "p1"}, timestamp=ahead)
    refused = check(body, rules)
    assert codes(refused) == [("timestamp_in_future", "timestamp")]
    assert "is more than 5 minutes ahead of" in refused.issues[0].message, refused.issues[0]


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01T00:00:00Z", True])
def test_timestamp_must_parse(check, bad):
    result = check(track("Product Viewed", {"product_id": "p1"}, timestamp=bad))
    assert [c for c, _ in codes(result)] == ["timestamp_invalid"]


def test_unknown_call_type(check):
    assert codes(check({"type": "click", "userId": "u1"})) == [("type_unknown", "type")]


def test_track_needs_event_name(check):
    body = track("", {})
    assert codes(check(body)) == [("event_missing", "")]


def test_all_problems_reported_together(check):
    body = track("Order Completed", order(currency="usd", products=[
        {"product_id": "p1", "price": 0, "quantity": 0}]))
    del body["userId"]
    found = {c for c, _ in codes(check(body))}
    assert {"identity_missing", "currency_invalid", "price_not_positive",
            "quantity_not_positive"} <= found


def test_wrong_types_have_a_code(check):
    result = check(track("Product Viewed", {"product_id": "p1", "price": "abc"}))
    assert codes(result) == [("type_invalid", "properties.price")]
    result = check(track("Product Viewed", "not a dict"))
    assert codes(result) == [("type_invalid", "properties")]


def test_not_an_object(check):
    assert codes(check([1, 2])) == [("not_object", "")]


def test_money_stays_decimal(check):
    result = check(track("Order Completed", order()))
    props = result.event.properties
    assert props["total"] == Decimal("46.17")
    assert isinstance(props["products"][0]["price"], Decimal)
