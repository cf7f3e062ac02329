"""Triggers and dead letters -> rows: the columns reports group by, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from models.deadletters import dead_letter
from models.errors import Issue
from models.serde import dumps
from models.triggers import CartRecovered, PostPurchase
from sinks.trigger_rows import (
    DEAD_LETTER_COLUMNS,
    TRIGGER_COLUMNS,
    TRIGGER_ROWS,
    dead_letter_row,
    dead_letter_rows,
)

T = datetime(2026, 3, 1, 10, tzinfo=UTC)


def as_dict(columns, row) -> dict:
    return dict(zip(columns, row, strict=True))


def test_a_recovery_keeps_its_money_exact_and_names_the_abandonment():
    trigger = CartRecovered(trigger_id="r1", tenant="t", time=T, emitted_at=T, user_id=None,
                            anonymous_id="a9", cart_id="c1", order_id="o1",
                            recovered_revenue=Decimal("25.10"), currency="USD",
                            minutes_since_abandonment=18.5, abandoned_trigger_id="a1",
                            abandoned_at=T)
    value = dumps(trigger.model_dump())
    [[row]] = TRIGGER_ROWS.build(value, "shop.triggers.cart_recovered", 0, 7)
    r = as_dict(TRIGGER_COLUMNS, row)
    assert r["value"] == Decimal("25.10") and r["user_key"] == "a9" and r["user_id"] == ""
    assert (r["type"], r["cart_id"], r["order_id"]) == ("cart_recovered", "c1", "o1")
    assert (r["abandoned_trigger_id"], r["minutes_since_abandonment"]) == ("a1", 18.5)
    assert r["time"] == T and r["payload"] == value.decode()


def test_customer_triggers_carry_their_revenue():
    trigger = PostPurchase(trigger_id="p1", tenant="t", time=T, emitted_at=T, user_id="u1",
                           order_id="o1", ordered_at=T, days_after=3, revenue=Decimal("9.99"),
                           currency="EUR", product_ids=["p"])
    [[row]] = TRIGGER_ROWS.build(dumps(trigger.model_dump()), "x", 0, 0)
    assert as_dict(TRIGGER_COLUMNS, row)["value"] == Decimal("9.99")


@pytest.mark.parametrize("value", [b"not json", b"[]", b'{"type": "nope"}',
                                   b'{"type": "winback", "trigger_id": "x"}'])
def test_what_is_not_a_trigger_is_refused(value):
    with pytest.raises(ValueError):
        TRIGGER_ROWS.build(value, "x", 0, 0)


def test_a_dead_letter_row_has_its_first_code_its_origin_and_its_own_position():
    letter = dead_letter(b'{"tenant": "acme", "price": -1}',
                         [Issue("price_not_positive", "price", "m"), Issue("id_empty", "x", "m")],
                         topic="shop.events.raw", partition=2, offset=41, key=b"u1", failed_at=T)
    r = as_dict(DEAD_LETTER_COLUMNS, dead_letter_row(letter, "shop.events.dlq", 1, 9, "default"))
    assert (r["tenant"], r["code"], r["stage"], r["failed_at"]) == ("acme", "price_not_positive",
                                                                     "validate", T)
    assert [x["code"] for x in orjson.loads(r["reasons"])] == ["price_not_positive", "id_empty"]
    assert (r["source_topic"], r["source_partition"], r["source_offset"], r["source_key"]) == (
        "shop.events.raw", 2, 41, "u1")
    assert (r["topic"], r["partition"], r["offset"]) == ("shop.events.dlq", 1, 9)


def test_a_dead_letter_without_a_readable_tenant_is_the_default_tenants():
    source = dead_letter_rows("shop1")
    for payload in (b"\xff\xfe", b"{broken", b'{"tenant": ""}', b'["tenant"]'):
        letter = dead_letter(payload, [Issue("json_invalid", "", "m")], topic="raw", partition=0,
                             offset=1, key=None, failed_at=T)
        [[row]] = source.build(letter, "dlq", 0, 0)
        assert as_dict(DEAD_LETTER_COLUMNS, row)["tenant"] == "shop1"


def test_a_webhook_dead_letter_keeps_its_endpoint_and_attempts():
    record = orjson.loads(dead_letter(b'{"tenant": "t", "trigger_id": "x"}',
                                      [Issue("delivery_failed", "", "HTTP 503")], topic="trg",
                                      partition=0, offset=3, key=b"u", failed_at=T,
                                      stage="webhook"))
    record.update(endpoint="wh_1", attempts=7)
    r = as_dict(DEAD_LETTER_COLUMNS, dead_letter_row(orjson.dumps(record), "dlq", 0, 0, "d"))
    assert (r["endpoint"], r["attempts"], r["code"], r["tenant"]) == ("wh_1", 7, "delivery_failed", "t")


def test_the_quality_source_sends_duplicate_notes_to_their_table_and_letters_to_theirs():
    source = dead_letter_rows("shop1", duplicates_topic="dups")
    assert [t.table for t in source.targets] == ["dead_letters", "duplicates"]
    note = orjson.dumps({"tenant": "t", "message_id": "m1", "event_time": 1_795_258_800_000,
                         "seen_at": 1_795_258_900_000,
                         "source": {"topic": "raw", "partition": 2, "offset": 7}})
    letters, [row] = source.build(note, "dups", 0, 3)
    assert letters == []
    assert row == ("t", "m1", datetime(2026, 11, 21, 11, 0, tzinfo=UTC),
                   datetime(2026, 11, 21, 11, 1, 40, tzinfo=UTC), "raw", 2, 7)
    letter = dead_letter(b"{broken", [Issue("json_invalid", "", "m")], topic="raw", partition=0,
                         offset=1, key=None, failed_at=T)
    [_], duplicates = source.build(letter, "dlq", 0, 0)
    assert duplicates == []


def test_the_shoppers_traits_never_reach_the_stored_payload():
    trigger = CartRecovered(trigger_id="r2", tenant="t", time=T, emitted_at=T, user_id="ana",
                            anonymous_id="a9", traits={"email": "ana@example.com"},
                            cart_id="c1", order_id="o1", recovered_revenue=Decimal("5"),
                            currency="USD", minutes_since_abandonment=1.0,
                            abandoned_trigger_id="a1", abandoned_at=T)
    [[row]] = TRIGGER_ROWS.build(dumps(trigger.model_dump()), "shop.triggers.cart_recovered", 0, 8)
    payload = orjson.loads(as_dict(TRIGGER_COLUMNS, row)["payload"])
    assert "traits" not in payload and payload["user_id"] == "ana" and payload["cart_id"] == "c1"
