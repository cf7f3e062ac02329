"""The device key, the links identify and alias calls make, and the contact traits."""

from __future__ import annotations

from models.envelope import Envelope
from models.identity import (
    MAX_LINK_HOPS,
    contact_traits,
    device_key,
    follow_links,
    linked_ids,
    raw_device_key,
)


def test_the_device_key_is_the_anonymous_id_then_an_alias_previous_id_then_the_user_id():
    assert device_key("u1", "a1") == "a1"
    assert device_key("u1", None, "old") == "old"
    assert device_key("u1", None) == "u1" and device_key(None, None) == ""
    event = Envelope.model_validate({"type": "track", "event": "X", "userId": "u1",
                                     "anonymousId": "a1", "messageId": "m", "tenant": "t",
                                     "timestamp": "2026-01-01T00:00:00Z"})
    assert event.key == "a1"


def test_raw_events_are_keyed_the_same_way_flat_ones_too_and_cut_to_an_id():
    assert raw_device_key({"userId": "u1", "anonymousId": "a1"}) == b"a1"
    assert raw_device_key({"user_id": 42}) == b"42"
    assert raw_device_key({"anonymous_id": "x", "user_id": "u"}) == b"x"
    assert raw_device_key({"event": "X"}) is None
    assert raw_device_key({"userId": "u" * 5000}) == b"u" * 1024


def test_identify_links_its_anonymous_id_and_alias_its_previous_id():
    assert linked_ids("identify", "u1", "a1", None) == ["a1"]
    assert linked_ids("alias", "u1", "a2", "old") == ["old", "a2"]
    assert linked_ids("alias", "u1", "u1", "u1") == []  # never to itself
    assert linked_ids("identify", None, "a1", None) == []
    assert linked_ids("Product Added", "u1", "a1", None) == []


def test_contact_traits_keep_short_scalar_texts_only():
    traits = {"email": " ana@example.com ", "phone": 351911, "name": "", "firstName": None,
              "lastName": ["x"], "username": True, "plan": "gold", "title": "x" * 2000}
    assert contact_traits(traits) == {"email": "ana@example.com", "phone": "351911"}
    assert contact_traits(None) == {}


def test_links_are_followed_to_the_last_user_of_a_chain():
    links = {"dev": "u1", "u1": "u2", "u2": "u3"}
    assert follow_links("dev", links.get) == "u3"
    assert follow_links("u2", links.get) == "u3" and follow_links("u3", links.get) == "u3"
    assert follow_links("nobody", links.get) == "nobody"


def test_a_chain_is_followed_at_most_max_hops_links():
    links = {f"id{n}": f"id{n + 1}" for n in range(10)}
    assert follow_links("id0", links.get) == f"id{MAX_LINK_HOPS}"
    assert follow_links("id0", links.get, max_hops=1) == "id1"


def test_a_cycle_stops_before_an_id_already_passed():
    assert follow_links("a", {"a": "b", "b": "a"}.get) == "b"
    assert follow_links("b", {"a": "b", "b": "a"}.get) == "a"
    # dev -> u1 -> u2 -> u1: stops at u2, never comes back to u1
    assert follow_links("dev", {"dev": "u1", "u1": "u2", "u2": "u1"}.get) == "u2"
    assert follow_links("x", {"x": "x"}.get) == "x"
