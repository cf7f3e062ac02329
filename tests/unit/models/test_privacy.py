"""IP truncation and personal property keys, alone and inside validation."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import orjson
import pytest

from models.privacy import PrivacyRules, hashed, protected_properties, truncated_ip
from models.serde import event_to_json
from models.validation import Rules, validate_bytes

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(("ip", "network"), [
    ("81.2.69.142", "81.2.69.0"),
    ("8.8.8.8", "8.8.8.0"),
    (" 10.0.0.255 ", "10.0.0.0"),
    ("2a00:1450:4001:80b::200e", "2a00:1450:4001::"),
    ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
    ("::ffff:81.2.69.142", "81.2.69.0"),
    ("fe80::1%eth0", "fe80::"),
    ("not an ip", None),
    ("", None),
])
def test_truncated_to_the_network(ip, network):
    assert truncated_ip(ip) == network


def test_hashes_are_stable_and_keyed():
    assert hashed("ann@example.com") == "sha256:" + hashlib.sha256(b"ann@example.com").hexdigest()
    assert hashed("ann@example.com", b"k") == "sha256:" + hmac.new(
        b"k", b"ann@example.com", hashlib.sha256).hexdigest()
    assert hashed({"b": 1, "a": 2}) == hashed({"a": 2, "b": 1})


def test_configured_keys_hashed_or_removed_contract_fields_kept():
    props = {"email": "ann@example.com", "phone": "+44 20 7946 0958", "name": "Ann",
             "price": 10, "address": None}
    out = protected_properties(props, PrivacyRules(), contract_fields={"name", "price"})
    assert out == {"email": hashed("ann@example.com"), "phone": hashed("+44 20 7946 0958"),
                   "name": "Ann", "price": 10}
    assert props["email"] == "ann@example.com"  # the input is left alone
    removed = protected_properties(props, PrivacyRules(pii_handling="remove"))
    assert removed == {"price": 10}
    assert protected_properties({"price": 1}, PrivacyRules()) == {"price": 1}
    with pytest.raises(ValueError, match="IP handling"):
        PrivacyRules(ip_handling="blur")


def canonical(event: dict, privacy: PrivacyRules, enrich: bool = True) -> dict:
    result = validate_bytes(orjson.dumps(event), Rules(enrich=enrich, privacy=privacy), NOW)
    assert result.ok, result.issues
    return orjson.loads(event_to_json(result.event))


SIGNUP = {"type": "track", "event": "Signed Up", "userId": "u1", "timestamp": "2026-03-01T09:00:00Z",
          "context": {"ip": "81.2.69.142"}, "properties": {"email": "ann@example.com", "plan": "pro"}}


@pytest.mark.parametrize(("handling", "ip"), [("truncate", "81.2.69.0"), ("drop", None),
                                              ("keep", "81.2.69.142")])
def test_validation_places_the_event_by_the_full_address_then_applies_the_setting(handling, ip):
    out = canonical(SIGNUP, PrivacyRules(ip_handling=handling))
    assert out["context"].get("ip") == ip
    assert out["context"]["enrichment"]["country"] == "GB"
    assert out["properties"] == {"email": hashed("ann@example.com"), "plan": "pro"}


def test_a_products_name_is_not_personal_data_but_a_custom_events_name_is():
    viewed = {**SIGNUP, "event": "Product Viewed", "properties": {"product_id": "p1", "name": "Sofa"}}
    assert canonical(viewed, PrivacyRules())["properties"]["name"] == "Sofa"
    custom = {**SIGNUP, "event": "Newsletter Joined", "properties": {"name": "Ann"}}
    assert canonical(custom, PrivacyRules())["properties"]["name"] == hashed("Ann")


def test_without_rules_nothing_changes_and_a_non_string_ip_is_still_rejected():
    assert canonical(SIGNUP, None, enrich=False)["context"]["ip"] == "81.2.69.142"
    bad = orjson.dumps({**SIGNUP, "context": {"ip": 42}})
    assert not validate_bytes(bad, Rules(privacy=PrivacyRules()), NOW).ok
