"""The alias table: every documented payload shape becomes its canonical event, and its
ClickHouse row carries the revenue."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import orjson
import pytest

from models.flat import DEFAULT_ALIASES, FLAT_EVENTS, AliasFileError, AliasTable, to_contract_names
from models.serde import event_to_json
from models.validation import Rules, validate_obj
from sinks.rows import EVENT_COLUMNS, ITEM_COLUMNS, rows_for
from tests.unit.conftest import NOW

FLAT_BASE = {"user_id": "u1", "session_id": "s1", "timestamp": "2026-11-21T11:00:00Z"}
LINES = [{"product_id": "p1", "price": "10.00", "quantity": 2},
         {"product_id": "p2", "price": "5.50", "quantity": 1}]


def flat(category: str, event_type: str, **fields: Any) -> dict[str, Any]:
    return {"category": category, "event_type": event_type, **FLAT_BASE, **fields}


# (payload, canonical call/event name, properties expected among the canonical ones, revenue)
SHAPES: list[tuple[dict[str, Any], str, dict[str, Any], str]] = [
    (flat("user", "page_view", data={"path": "/home"}), "page", {"path": "/home"}, "0"),
    (flat("user", "product_view", product_id="p1", price="10.00"), "Product Viewed",
     {"product_id": "p1", "price": D("10.00")}, "0"),
    (flat("user", "search", search_query="shoes"), "Products Searched", {"query": "shoes"}, "0"),
    (flat("user", "add_to_cart", product_id="p1", price="10.00", quantity=2),
     "Product Added", {"product_id": "p1", "quantity": 2}, "0"),
    (flat("user", "checkout_start", data={"cart_id": "c1"}), "Checkout Started",
     {"cart_id": "c1"}, "0"),
    (flat("user", "checkout_complete", order_id="o1", order_total="25.50",
          data={"products": LINES}), "Order Completed", {"order_id": "o1", "total": D("25.50")},
     "25.50"),
    (flat("user", "login"), "Logged In", {}, "0"),
    (flat("user", "registration"), "Signed Up", {}, "0"),
    (flat("product", "view", product_id="p1"), "Product Viewed", {"product_id": "p1"}, "0"),
    (flat("product", "purchase", order_id="o2", product_id="p1", price="10.00", quantity=3),
     "Order Completed", {"order_id": "o2", "products": [
         {"product_id": "p1", "price": D("10.00"), "quantity": 3}]}, "30.00"),
    (flat("product", "cart_add", product_id="p1", price="10.00", quantity=1), "Product Added",
     {"product_id": "p1"}, "0"),
    (flat("product", "cart_remove", product_id="p1"), "Product Removed",
     {"product_id": "p1"}, "0"),
    (flat("product", "wishlist_add", product_id="p1"), "Product Added to Wishlist",
     {"product_id": "p1"}, "0"),
    (flat("product", "review", product_id="p1", data={"rating": 4}), "Product Reviewed",
     {"rating": D(4)}, "0"),
    (flat("order", "created", order_id="o3", order_total="25.50", items_count=3,
          payment_method="card", data={"products": LINES}), "Order Completed",
     {"total": D("25.50"), "items_count": 3, "payment_method": "card"}, "25.50"),
    (flat("order", "payment_started", order_id="o3", payment_method="card"),
     "Payment Info Entered", {"order_id": "o3", "payment_method": "card"}, "0"),
    (flat("order", "payment_completed", order_id="o3", payment_method="card"),
     "Checkout Step Completed", {"payment_method": "card"}, "0"),
    (flat("order", "confirmed", order_id="o3", order_total="25.50"), "Order Confirmed",
     {"order_id": "o3"}, "0"),
    (flat("order", "shipped", order_id="o3"), "Order Shipped", {"order_id": "o3"}, "0"),
    (flat("order", "delivered", order_id="o3"), "Order Delivered", {"order_id": "o3"}, "0"),
    (flat("order", "cancelled", order_id="o3", order_total="25.50"), "Order Cancelled",
     {"order_id": "o3", "total": D("25.50")}, "25.50"),
    # Segment-style notebooks
    ({"type": "track", "event": "Product Added to Cart", "userId": "u1",
      "timestamp": "2026-11-21T11:00:00Z",
      "properties": {"product_id": "p1", "unit_price": "10.00", "cart_id": "c1", "quantity": 2}},
     "Product Added", {"price": D("10.00"), "cart_id": "c1", "quantity": 2}, "0"),
    ({"type": "track", "event": "product removed from cart", "userId": "u1",
      "timestamp": "2026-11-21T11:00:00Z", "properties": {"product_id": "p1", "cart_id": "c1"}},
     "Product Removed", {"cart_id": "c1"}, "0"),
    ({"type": "track", "event": "Order Completed", "userId": "u1",
      "timestamp": "2026-11-21T11:00:00Z",
      "properties": {"order_id": "o4", "currency": "USD", "tax_amount": "2.00",
                     "shipping_amount": "4.99", "discount_amount": "1.00",
                     "total_amount": "31.49", "products": [
                         {"product_id": "p1", "unit_price": "10.00", "quantity": 2,
                          "total_price": "20.00"},
                         {"product_id": "p2", "unit_price": "5.50", "quantity": 1,
                          "total_price": "5.50"}]}},
     "Order Completed", {"tax": D("2.00"), "shipping": D("4.99"), "discount": D("1.00"),
                         "total": D("31.49")}, "31.49"),
]


def canonical(payload: dict[str, Any], rules: Rules | None = None) -> dict[str, Any]:
    result = validate_obj(payload, rules or Rules(), NOW)
    assert result.ok, result.issues
    assert result.event is not None
    return orjson.loads(event_to_json(result.event))


@pytest.mark.parametrize(("payload", "name", "props", "revenue"), SHAPES,
                         ids=[f"{i}-{s[1]}" for i, s in enumerate(SHAPES)])
def test_each_documented_shape_becomes_its_canonical_event_and_row(payload, name, props,
                                                                   revenue):
    event = canonical(payload)
    assert (event["type"] if name == "page" else event["event"]) == name
    assert event["userId"] == "u1"
    typed = validate_obj(payload, Rules(), NOW).event
    assert typed is not None
    for key, value in props.items():
        assert typed.properties[key] == value, key
    row, items = rows_for(event_to_json(typed))
    columns = dict(zip(EVENT_COLUMNS, row, strict=True))
    assert columns["event"] == name
    assert columns["revenue"] == D(revenue)
    if "session_id" in payload:
        assert columns["session_id"] == "s1"


def test_order_lines_from_aliases_reach_order_items():
    payload = SHAPES[-1][0]
    _row, items = rows_for(canonical(payload))
    lines = [dict(zip(ITEM_COLUMNS, item, strict=True)) for item in items]
    assert [(line["product_id"], line["price"], line["line_total"]) for line in lines] == [
        ("p1", D("10.00"), D("20.00")), ("p2", D("5.50"), D("5.50"))]


def test_alias_fields_are_checked_by_the_contracts_rules():
    payload = {"type": "track", "event": "Product Added to Cart", "userId": "u1",
               "properties": {"product_id": "p1", "unit_price": "-1"}}
    result = validate_obj(payload, Rules(), NOW)
    assert [(i.code, i.path) for i in result.issues] == [
        ("price_not_positive", "properties.price")]


def test_a_flat_events_fields_of_its_own_are_kept_as_properties_aliases_renamed():
    event = canonical(flat("product", "cart_add", product_id="p2", quantity=2, unit_price=5,
                           foo="bar", nested={"a": 1}, gone=None,
                           data={"foo": "from data wins"}))
    assert event["event"] == "Product Added"
    assert D(str(event["properties"]["price"])) == 5  # unit_price: an alias of the price
    assert event["properties"]["foo"] == "from data wins"
    assert event["properties"]["nested"] == {"a": 1} and "gone" not in event["properties"]
    assert "unit_price" not in event["properties"] and "foo" not in event


def test_a_flat_events_own_field_is_checked_as_the_property_it_becomes():
    result = validate_obj(flat("product", "cart_add", product_id="p2", unit_price=-1), Rules(), NOW)
    assert [(i.code, i.path) for i in result.issues] == [
        ("price_not_positive", "properties.price")]


def test_a_flat_order_without_lines_is_refused_as_the_contract_says():
    result = validate_obj(flat("order", "created", order_id="o", order_total="9.00"), Rules(), NOW)
    assert [i.code for i in result.issues] == ["order_no_products"]


def test_canonical_fields_win_over_their_aliases():
    out = to_contract_names({"type": "track", "event": "Product Added", "userId": "u",
                             "properties": {"price": "2", "unit_price": "3"}})
    assert out["properties"] == {"price": "2", "unit_price": "3"}


def test_the_input_is_left_as_it_was():
    payload = SHAPES[-1][0]
    before = orjson.dumps(payload)
    canonical(payload)
    assert orjson.dumps(payload) == before


def test_every_flat_pair_in_the_table_is_covered_by_a_shape_or_an_older_test():
    fed = {(s[0]["category"], s[0]["event_type"]) for s in SHAPES if "category" in s[0]}
    older = {("page", "view"), ("search", "query"), ("product", "list_view"),
             ("product", "click"), ("cart", "add"), ("cart", "remove"), ("cart", "view"),
             ("checkout", "start"), ("checkout", "step"), ("checkout", "payment"),
             ("order", "complete"), ("order", "purchase"), ("order", "update"),
             ("order", "refund"), ("order", "cancel"), ("coupon", "apply"), ("user", "signup")}
    assert set(FLAT_EVENTS) - fed - older == set()


def test_an_alias_file_adds_and_overrides(tmp_path):
    path = tmp_path / "aliases.json"
    path.write_text(orjson.dumps({
        "flat": {"basket/put": "Product Added", "order/confirmed": "Order Completed"},
        "events": {"Added To Basket": "Product Added"},
        "properties": {"cost": "price"},
        "product_properties": {"sku_price": "price"}}).decode())
    table = AliasTable.from_file(path)
    rules = Rules(aliases=table)
    assert canonical(flat("basket", "put", product_id="p"), rules)["event"] == "Product Added"
    basket = canonical({"type": "track", "event": "added to basket", "userId": "u1",
                        "properties": {"product_id": "p", "cost": "4.00"}}, rules)
    assert (basket["event"], basket["properties"]["price"]) == ("Product Added", 4.0)
    confirmed = canonical(flat("order", "confirmed", order_id="o", order_total="4.00",
                               data={"products": [{"product_id": "p", "sku_price": "4.00"}]}),
                          rules)
    assert confirmed["event"] == "Order Completed"
    assert confirmed["properties"]["products"][0]["price"] == 4.0
    # the defaults are untouched
    assert DEFAULT_ALIASES.flat_events[("order", "confirmed")] == "Order Confirmed"


@pytest.mark.parametrize(("content", "message"), [
    (b"[1]", "must hold a JSON object"),
    (b"{oops", "is not JSON"),
    (b'{"flat": {"nocategory": "Product Added"}}', "is not 'category/event_type'"),
    (b'{"events": {"A": 1}}', "must map names to non-empty names"),
    (b'{"colours": {}}', "unknown section"),
])
def test_a_bad_alias_file_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "aliases.json"
    path.write_bytes(content)
    with pytest.raises(AliasFileError, match=message):
        AliasTable.from_file(path)
    with pytest.raises(AliasFileError, match="cannot read"):
        AliasTable.from_file(tmp_path / "missing.json")


def test_a_screen_call_is_a_page_view():
    event = canonical({"type": "screen", "name": "Home", "anonymousId": "a1",
                       "properties": {"path": "/home"}})
    assert (event["type"], event["name"]) == ("page", "Home")
