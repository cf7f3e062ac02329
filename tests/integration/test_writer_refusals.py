"""A value its column cannot hold is a refusal (the sink splits the batch and dead-letters
that row), never a failure to retry: clickhouse-connect finds these while encoding the
block, without a server error code, and such a batch was once retried for ever. Real
ClickHouse (embedded chDB)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from models.serde import dumps
from models.triggers import PostPurchase
from sinks.errors import RowsRefused
from sinks.rows import rows_for
from sinks.sink_lane import Pending, Row
from sinks.trigger_rows import TRIGGER_ROWS, TRIGGERS
from sinks.writer import EVENT_ROWS, Batch, ClickHouseWriter, TableBatch

pytestmark = pytest.mark.integration
T = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def trigger(revenue: Decimal, trigger_id: str) -> bytes:
    return dumps(PostPurchase(
        trigger_id=trigger_id, tenant="t", time=T, emitted_at=T, user_id="u1", order_id="o1",
        ordered_at=T, days_after=3, revenue=revenue, currency="USD",
        product_ids=["p1"]).model_dump())


def test_a_trigger_value_over_decimal_18_4_is_refused_and_the_good_ones_are_written(clickhouse):
    writer = ClickHouseWriter(clickhouse)
    [[too_big]] = TRIGGER_ROWS.build(trigger(Decimal(10) ** 15, "big"), "x", 0, 0)
    [[fine]] = TRIGGER_ROWS.build(trigger(Decimal("9.99"), "fine"), "x", 0, 1)
    with pytest.raises(RowsRefused) as refused:
        writer.write(TableBatch("tok-1", [(TRIGGERS, [fine, too_big])]))
    assert "Decimal(18, 4)" in str(refused.value) or "out of range" in str(refused.value), \
        str(refused.value)
    writer.write(TableBatch("tok-1/0", [(TRIGGERS, [fine])]))  # one by one, as the sink does
    rows = clickhouse.query("SELECT trigger_id, value FROM triggers").result_rows
    assert rows == [("fine", Decimal("9.99"))], rows


def test_a_quantity_over_int32_is_refused(clickhouse):
    event = (b'{"type":"track","event":"Wishlist Shared","messageId":"m","tenant":"t",'
             b'"userId":"u","timestamp":"2026-03-01T10:00:00.000Z",'
             b'"properties":{"quantity":99999999999}}')  # not from the contract: it refuses this
    row, items = rows_for(event)
    with pytest.raises(RowsRefused):
        ClickHouseWriter(clickhouse).write(Batch("tok-2", [row], items))
    assert clickhouse.query("SELECT count() FROM events").result_rows == [(0,)]


def test_a_refusal_says_which_tables_the_batch_wrote_before_it(clickhouse):
    """The sink then writes the refused batch's rows one by one into the other tables only:
    a row written again under a token of its own would be in a table twice."""
    order = (b'{"type":"track","event":"Order Completed","messageId":"m","tenant":"t",'
             b'"userId":"u","timestamp":"2026-03-01T10:00:00.000Z","properties":{'
             b'"order_id":"o","total":5,"products":[{"product_id":"p","price":1e15,"quantity":1}]}}')
    row, items = rows_for(order)  # the event's row fits; its line's price does not
    with pytest.raises(RowsRefused) as refused:
        ClickHouseWriter(clickhouse).write(Batch("tok-3", [row], items))
    assert refused.value.written == ("events",), refused.value.written
    assert clickhouse.query("SELECT count() FROM events").result_rows == [(1,)]
    pending = Pending(first_offset=0, last_offset=0,
                      rows=[Row(0, b"k", order, ([row], items, []))])
    left = tuple(t for t in EVENT_ROWS.targets if t.table not in refused.value.written)
    single = pending.batch("tok-3/0", EVENT_ROWS.targets, only=left)
    assert [target.table for target, _rows in single.parts()] == ["order_items", "users"]
