"""What a batch writes: the events' two tables, or any row source's targets."""

from __future__ import annotations

from sinks.rows import rows_for
from sinks.writer import EVENT_ROWS, EVENTS, ORDER_ITEMS, USERS, Batch, TableBatch

ORDER = (b'{"type":"track","event":"Order Completed","messageId":"m","tenant":"t","userId":"u",'
         b'"timestamp":"2026-01-01T00:00:00.000Z","properties":{"order_id":"o","total":3,'
         b'"products":[{"product_id":"a","price":1,"quantity":1},{"product_id":"b","price":2}]}}')


def test_the_event_source_gives_the_rows_ingest_writes():
    event, items = rows_for(ORDER)
    assert EVENT_ROWS.targets == (EVENTS, ORDER_ITEMS, USERS)
    assert EVENT_ROWS.build(ORDER, "shop.events", 0, 5) == ([event], items, [])
    assert Batch("tok", [event], items).parts() == [(EVENTS, [event]), (ORDER_ITEMS, items),
                                                    (USERS, [])]


def test_a_table_batch_writes_its_targets_in_order():
    batch = TableBatch("tok", [(ORDER_ITEMS, [(1,), (2,)]), (EVENTS, [])])
    assert [t.table for t, _rows in batch.parts()] == ["order_items", "events"]
    assert len(batch) == 2 and len(TableBatch("tok", [])) == 0


def test_a_dropping_source_leaves_out_every_row_of_a_record_it_drops_and_counts_it():
    from sinks.metrics import SINK_DROPPED
    from sinks.writer import dropping

    user = EVENTS.columns.index("user_id")
    source = dropping(EVENT_ROWS, lambda row: row[user] == "u")
    before = SINK_DROPPED.labels("events")._value.get()
    assert source.targets == EVENT_ROWS.targets
    assert source.build(ORDER, "shop.events", 0, 5) == ([], [], [])  # the order lines too
    assert SINK_DROPPED.labels("events")._value.get() == before + 1
    other = ORDER.replace(b'"userId":"u"', b'"userId":"v"')
    assert source.build(other, "shop.events", 0, 6) == EVENT_ROWS.build(other, "shop.events", 0, 6)
    assert SINK_DROPPED.labels("events")._value.get() == before + 1


def test_which_insert_failures_are_retried_and_which_refuse_the_rows():
    from clickhouse_connect.driver.exceptions import DatabaseError

    from sinks.writer import is_transient

    def failed(code: int) -> DatabaseError:
        return DatabaseError(f"HTTPDriver received ClickHouse error code {code}\n"
                             f" Code: {code}. DB::Exception: ... (SOME_NAME)")

    # overloaded, a timeout, memory: later; a table or a user's rights: once fixed
    for code in (202, 159, 241, 60, 81, 16, 497, 516):
        assert is_transient(failed(code)), code
    # the rows themselves: a value that cannot be parsed or converted, a type mismatch
    for code in (6, 27, 53, 69, 70, 72):
        assert not is_transient(failed(code)), code
    assert is_transient(DatabaseError("connection reset"))  # no code at all: retried
