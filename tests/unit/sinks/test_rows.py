"""Canonical event -> ClickHouse rows: the definitions reports rely on."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from sinks.rows import (
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    USER_COLUMNS,
    event_row,
    item_rows,
    rows_for,
    user_rows,
)

BASE = {"type": "track", "messageId": "m1", "tenant": "t", "userId": "u1",
        "timestamp": "2026-01-01T10:00:00.000Z", "receivedAt": "2026-01-01T10:00:01.000Z"}


def row(event: dict) -> dict:
    return dict(zip(EVENT_COLUMNS, event_row({**BASE, **event}), strict=True))


def test_order_revenue_is_total_then_revenue_then_lines():
    lines = [{"product_id": "a", "price": 2.5, "quantity": 2}, {"product_id": "b", "price": 1,
                                                                 "discount": 0.5}]
    assert row({"event": "Order Completed", "properties": {"total": 9.99}})["revenue"] == D("9.99")
    assert row({"event": "Order Completed", "properties": {"revenue": 7}})["revenue"] == D("7")
    by_lines = row({"event": "Order Completed", "properties": {"products": lines}})
    assert by_lines["revenue"] == D("5.5") and by_lines["quantity"] == 3
    refund = row({"event": "Order Refunded", "properties": {"order_id": "o"}})
    assert refund["revenue"] == D("0")


def test_identity_session_and_campaign_columns():
    r = row({"event": "Product Viewed", "anonymousId": "a9", "userId": None,
             "properties": {"product_id": 5, "price": 12.3, "category": "shoes"},
             "context": {"sessionId": "s1", "campaign": {"source": "g", "medium": "cpc",
                                                          "name": "c"},
                         "page": {"url": "https://x/p", "path": "/p", "referrer": "r"}}})
    assert (r["user_key"], r["session_id"], r["product_id"], r["price"], r["category"]) == (
        "a9", "s1", "5", D("12.3"), "shoes")
    assert (r["utm_source"], r["utm_medium"], r["utm_campaign"]) == ("g", "cpc", "c")
    assert (r["page_url"], r["page_path"], r["referrer"]) == ("https://x/p", "/p", "r")
    assert r["event_time"] == datetime(2026, 1, 1, 10, tzinfo=UTC)


def test_without_session_id_sessions_are_30_minute_buckets():
    first = row({"event": "Logged In", "timestamp": "2026-01-01T10:29:59.000Z"})["session_id"]
    same = row({"event": "Logged In", "timestamp": "2026-01-01T10:00:00.000Z"})["session_id"]
    later = row({"event": "Logged In", "timestamp": "2026-01-01T10:30:00.000Z"})["session_id"]
    assert first == same != later and first.startswith("u1:")


def test_page_calls_use_their_properties_and_type_as_event():
    r = row({"type": "page", "properties": {"url": "https://x/", "path": "/"}})
    assert (r["event"], r["page_path"], r["page_url"]) == ("page", "/", "https://x/")


def test_alias_and_group_calls_keep_their_ids():
    alias = row({"type": "alias", "previousId": "anon-1"})
    group = row({"type": "group", "groupId": "acme"})
    assert (alias["event"], alias["user_id"], alias["previous_id"]) == ("alias", "u1", "anon-1")
    assert (group["event"], group["group_id"], group["previous_id"]) == ("group", "acme", "")


def test_order_items_sign_and_line_totals():
    order = {**BASE, "event": "Order Completed", "properties": {"order_id": "o1", "currency": "EUR",
             "products": [{"product_id": "a", "price": 3, "quantity": 2, "discount": 1},
                          {"product_id": "b", "price": 4, "line_total": 4}]}}
    items = [dict(zip(ITEM_COLUMNS, r, strict=True)) for r in item_rows(order)]
    assert [(i["line"], i["product_id"], i["quantity"], i["line_total"], i["sign"], i["currency"])
            for i in items] == [(0, "a", 2, D("5"), 1, "EUR"), (1, "b", 1, D("4"), 1, "EUR")]
    refund = {**order, "event": "Order Refunded"}
    assert {r[4] for r in item_rows(refund)} == {-1}
    assert item_rows({**order, "event": "Order Cancelled"}) == []


def test_rows_for_reads_canonical_bytes():
    ev, items = rows_for(b'{"type":"track","event":"Order Completed","messageId":"m","tenant":"t",'
                         b'"userId":"u","timestamp":"2026-01-01T00:00:00.000Z","properties":'
                         b'{"order_id":"o","total":0.3,"products":[{"product_id":"p",'
                         b'"price":0.1,"quantity":3}]}}')
    assert ev[EVENT_COLUMNS.index("revenue")] == D("0.3")
    assert items[0][ITEM_COLUMNS.index("line_total")] == D("0.3")


def test_enrichment_columns_come_from_the_context():
    enrichment = {"browser": "Chrome", "os": "Android", "device_type": "mobile", "is_bot": True,
                  "country": "BR", "city": "", "source_class": "search"}
    r = row({"event": "Product Viewed", "context": {"enrichment": enrichment}})
    assert [r[c] for c in ("browser", "os", "device_type", "is_bot", "country", "city",
                           "source_class")] == ["Chrome", "Android", "mobile", 1, "BR", "", "search"]
    plain = row({"event": "Product Viewed", "context": {"userAgent": "curl/8.4.0"}})
    assert (plain["is_bot"], plain["device_type"], plain["source_class"]) == (0, "", "")


def test_identify_traits_go_to_users_only():
    traits = {"email": "ana@example.com", "firstName": "Ana", "lastName": "Lima", "plan": "gold"}
    identify = {**BASE, "type": "identify", "anonymousId": "dev-a", "traits": traits,
                "context": {"traits": traits, "locale": "pt-PT"}}
    [user] = user_rows(identify)
    u = dict(zip(USER_COLUMNS, user, strict=True))
    assert (u["user_id"], u["anonymous_id"], u["email"], u["name"], u["phone"]) == (
        "u1", "dev-a", "ana@example.com", "Ana Lima", "")
    assert u["traits"] == '{"email":"ana@example.com","firstName":"Ana","lastName":"Lima","plan":"gold"}'
    stored = row({"type": "identify", "traits": traits, "context": {"traits": traits}})
    assert "ana@" not in stored["context"] + stored["properties"]
    assert user_rows({**BASE, "type": "identify", "userId": None, "anonymousId": "a"}) == []
    assert user_rows({**BASE, "event": "Product Added"}) == []
