"""API keys: their form, hashed secrets, roles, origins."""

from __future__ import annotations

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


def test_roles():
    assert [may_write(r) for r in Role] == [True, False, False]
    assert [may_read(r) for r in Role] == [False, True, True]
    assert [may_administer(r) for r in Role] == [False, False, True]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tenant": "a b"}, "tenant"),
    ({"origins": ("shop.example.com",)}, "origin"),
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
