"""API keys: their form, hashed secrets, roles, origins."""

from __future__ import annotations

from dataclasses import replace

import pytest

from models.keys import (
    ApiKey,
    ApiKeyError,
    Role,
    may_administer,
    may_read,
    may_write,
    new_key,
    secret_matches,
    split_key,
)


def test_a_new_key_stores_only_a_hash_of_its_secret():
    key, record = new_key("shop-a", Role.WRITE, "2026-01-01T00:00:00.000Z",
                          origins=("https://shop.a/",), rate=50)
    key_id, secret = split_key(key)
    assert key_id == record.key_id and secret not in record.to_json().decode()
    assert secret_matches(record, secret) and not secret_matches(record, secret[:-1] + "x")
    again = ApiKey.from_json(record.to_json())
    assert again == record and again.origins == ("https://shop.a",) and again.rate == 50
    assert again.allows_origin("https://shop.a") and not again.allows_origin("https://shop.b")
    assert again.revoke().revoked and not record.revoked


def test_origins_match_in_any_case_of_scheme_and_host_and_with_their_exact_port():
    _, record = new_key("shop-a", Role.WRITE, "", origins=(
        "HTTPS://Shop.Example.COM/", "http://LOCALHOST:8080", "https://Bücher.Example"))
    # stored as a browser serialises an origin (RFC 6454): lower-case, IDNA host
    assert record.origins == ("https://shop.example.com", "http://localhost:8080",
                              "https://xn--bcher-kva.example")
    assert record.allows_origin("https://shop.example.com")
    assert record.allows_origin("https://SHOP.example.com")
    assert record.allows_origin("http://localhost:8080")
    assert record.allows_origin("https://xn--bcher-kva.example")
    assert not record.allows_origin("http://localhost:8081")  # ports are exact
    assert not record.allows_origin("https://shop.example.com:8443")
    assert not record.allows_origin("http://shop.example.com")
    # a default port is no port: browsers never send one
    _, explicit = new_key("shop-a", Role.WRITE, "", origins=("https://shop.example.com:443",
                                                            "http://shop.example.com:80"))
    assert explicit.origins == ("https://shop.example.com", "http://shop.example.com")
    assert explicit.allows_origin("https://shop.example.com")
    assert not explicit.allows_origin("http://shop.example.com:443")
    with pytest.raises(ApiKeyError, match="not a pattern"):
        new_key("shop-a", Role.WRITE, "", origins=("https://*.example.com",))
    # a record stored before origins were kept lower-case matches too
    old = ApiKey.from_json(replace(record, origins=("https://Shop.Example.COM",)).to_json())
    assert old.allows_origin("https://shop.example.com")
    assert not old.allows_origin("https://shop.example.org")


def test_roles():
    assert [may_write(r) for r in Role] == [True, False, False]
    assert [may_read(r) for r in Role] == [False, True, True]
    assert [may_administer(r) for r in Role] == [False, False, True]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tenant": "a b"}, "tenant"),
    ({"origins": ("shop.example.com",)}, "origin"),
    ({"origins": ("https://shop.example.com/cart",)}, "origin"),
    ({"origins": ("https://user@shop.example.com",)}, "origin"),
    ({"origins": ("https://shop.example.com:port",)}, "origin"),
    ({"origins": ("https://a",), "role": Role.READ}, "for write keys"),
    ({"rate": 0}, "rate must be > 0"),
])
def test_bad_requests_are_clear_errors(kwargs, message):
    args = {"tenant": "t", "role": Role.WRITE, "created_at": "", **kwargs}
    with pytest.raises(ApiKeyError, match=message):
        new_key(**args)


def test_malformed_keys_are_not_split():
    assert split_key("nope") is None
    assert split_key("ssk_xyz_" + "a" * 43) is None
