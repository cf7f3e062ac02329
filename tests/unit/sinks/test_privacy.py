"""Which rows of a table are a person's: any person column holding one of their ids, or a
raw payload naming one as a JSON string, within their tenant."""

from __future__ import annotations

from models.erasure import Person
from sinks.catalogue import TableInfo
from sinks.privacy import names_erased, person_filter

ALICE = Person("shop1", "alice", ("anon-1",))


def table(*columns: str) -> TableInfo:
    return TableInfo("t", "ReplacingMergeTree", frozenset(columns))


def test_every_person_column_of_the_table_is_matched_within_the_tenant():
    where, params = person_filter(table("tenant", "user_id", "anonymous_id", "user_key", "n"), ALICE)
    assert where == ("tenant = {tenant:String} AND (has({ids:Array(String)}, `user_id`) OR "
                     "has({ids:Array(String)}, `anonymous_id`) OR has({ids:Array(String)}, `user_key`))")
    assert params == {"tenant": "shop1", "ids": ["alice", "anon-1"]}


def test_a_raw_payload_is_searched_for_each_id_as_a_json_string():
    where, params = person_filter(table("tenant", "payload"), ALICE)
    assert where == "tenant = {tenant:String} AND (multiSearchAny(`payload`, {needles:Array(String)}))"
    assert params["needles"] == ['"alice"', '"anon-1"']


def test_a_materialized_view_names_its_rollup():
    view = TableInfo("kpi_minute_mv", "MaterializedView", frozenset(),
                     create_query="CREATE MATERIALIZED VIEW shop.kpi_minute_mv TO shop.kpi_minute "
                                  "(`tenant` String) AS SELECT 1")
    assert view.target == "kpi_minute"
    assert table("user_id").target is None
    assert table("user_id").holds_people and not TableInfo(
        "v", "View", frozenset({"user_id"})).holds_people  # a view stores no rows


def test_an_event_row_names_an_erased_person_by_any_of_their_ids_within_their_tenant():
    from sinks.rows import rows_for
    from sinks.writer import EVENTS

    def event(**ids: str) -> tuple:
        body = {"type": "track", "event": "Product Viewed", "tenant": "shop1", "messageId": "m",
                "timestamp": "2026-01-01T00:00:00.000Z", "properties": {}, **ids}
        return rows_for(body)[0]

    asked: list[tuple[str, str]] = []

    def erased(tenant: str, ident: str) -> bool:
        asked.append((tenant, ident))
        return tenant == "shop1" and ident in ALICE.ids

    names = names_erased(EVENTS, erased)
    assert names(event(userId="alice"))
    assert names(event(userId="bob", anonymousId="anon-1"))  # her device, someone's login
    assert names(event(userId="bob", previousId="anon-1", type="alias"))
    asked.clear()
    assert not names(event(userId="bob", anonymousId="anon-2"))
    assert sorted(asked) == [("shop1", "anon-2"), ("shop1", "bob")]  # each id asked once
    # while nobody is erased, rows are not looked at
    asked.clear()
    quiet = names_erased(EVENTS, erased, anyone=lambda: False)
    assert not quiet(event(userId="alice")) and asked == []
