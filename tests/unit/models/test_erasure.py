"""The rules of erasure: a person's ids, their hashed name, and how each rollup is cleaned."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from models.erasure import (
    Person,
    holds_people,
    identity_hash,
    payload_needle,
    rollup_mode,
    suppression_value,
)


def test_an_identity_is_named_by_a_hash_of_tenant_and_id_keyed_when_a_key_is_set():
    plain = identity_hash("shop1", "alice")
    assert plain == "sha256:" + hashlib.sha256(b"shop1\x1falice").hexdigest()
    assert "alice" not in plain
    assert identity_hash("shop2", "alice") != plain  # the same id in another shop is another person
    keyed = identity_hash("shop1", "alice", b"secret")
    assert keyed == "sha256:" + hmac.new(b"secret", b"shop1\x1falice", hashlib.sha256).hexdigest()
    assert keyed != plain
    # no joining of tenant and id can collide with another split of the same characters
    assert identity_hash("ab", "c") != identity_hash("a", "bc")


def test_a_person_is_their_user_id_then_each_linked_id_once():
    person = Person("shop1", "alice", ("anon-2", "anon-1", "anon-2", " ", "alice"))
    assert person.ids == ("alice", "anon-1", "anon-2")
    more = person.linked({"anon-3", "alice", ""})
    assert more.ids == ("alice", "anon-1", "anon-2", "anon-3")
    assert more.hashes() == [identity_hash("shop1", i) for i in more.ids]
    assert more.subject() == identity_hash("shop1", "alice")


@pytest.mark.parametrize("tenant, user", [("", "alice"), ("shop1", ""), ("shop1", "  ")])
def test_a_person_needs_a_tenant_and_a_user_id(tenant, user):
    with pytest.raises(ValueError):
        Person(tenant, user)


def test_an_id_is_found_in_a_raw_payload_as_a_json_string():
    assert payload_needle("alice") == '"alice"'
    assert payload_needle('a"b') == '"a\\"b"'


def test_a_table_holds_people_when_it_has_a_person_column_or_a_payload():
    assert holds_people({"tenant", "user_key", "first_seen"})
    assert holds_people({"tenant", "payload"})
    assert not holds_people({"tenant", "minute", "sessions", "users"})


@pytest.mark.parametrize("sorting_key, partition_key, sources, mode", [
    ("tenant, user_key", "", ["toYYYYMM(event_time)"], "delete"),  # users_first_seen
    ("tenant, minute", "toYYYYMM(minute)", ["toYYYYMM(event_time)"], "months"),  # kpi_minute
    ("tenant, day, product_id", "toYYYYMM(day)",
     ["toYYYYMM(event_time)", "toYYYYMM(event_time)"], "months"),  # product_daily: two feeds
    ("tenant, day", "toYYYYMM(day)", ["tenant"], "whole"),  # a source not by month
    ("tenant, session_id", "", ["toYYYYMM(event_time)"], "whole"),  # unpartitioned, by session
])
def test_each_rollup_is_cleaned_the_way_its_keys_allow(sorting_key, partition_key, sources, mode):
    assert rollup_mode(sorting_key, partition_key, sources) == mode


def test_a_suppression_record_says_when_and_by_which_request_never_who():
    assert suppression_value("r-1", 1_700_000_000_000) == (
        b'{"request_id":"r-1","erased_at_ms":1700000000000}')
