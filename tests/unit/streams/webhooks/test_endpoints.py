"""Endpoint records: what `webhooks add` accepts, and how they travel on the topic."""

from __future__ import annotations

import pytest

from models.errors import ShopstreamError
from models.settings import TRIGGER_KINDS, load_settings
from streams.webhooks.endpoints import Endpoint, endpoint_group, new_endpoint, parse_types


def test_types_are_checked_deduplicated_and_all_means_every_kind():
    assert parse_types("cart_abandoned, winback,winback") == ("cart_abandoned", "winback")
    assert parse_types("all") == TRIGGER_KINDS
    for wrong in ("", "cart_abandonned", "winback,nope"):
        with pytest.raises(ShopstreamError, match="choose from"):
            parse_types(wrong)


def test_new_endpoint_checks_the_url_and_generates_a_secret():
    endpoint = new_endpoint("https://crm.example.com/hooks", "winback", None, 1_700_000_000_000)
    assert endpoint.id.startswith("wh_") and endpoint.secret.startswith("whsec_")
    assert len(endpoint.secret) > 40 and endpoint.masked_secret().count("...") == 1
    assert endpoint.secret not in endpoint.masked_secret()
    assert endpoint.masked_secret() == f"whsec_...{endpoint.secret[-4:]}"
    assert new_endpoint("http://h/x", "winback", None, 0).id != endpoint.id
    for url in ("ftp://h/x", "crm.example.com/hooks", "http:///x"):
        with pytest.raises(ShopstreamError, match="http"):
            new_endpoint(url, "winback", None, 0)
    with pytest.raises(ShopstreamError, match="8 characters"):
        new_endpoint("http://h/x", "winback", "short", 0)


def test_a_chosen_secret_shows_its_last_four_characters_at_most():
    def masked(secret: str) -> str:
        return new_endpoint("http://h/x", "winback", secret, 0).masked_secret()

    assert masked("longenoughsecret") == "...cret"
    assert masked("frombeginning1") == "***"  # under 16 characters: nothing of it
    assert masked("whsec_chosen_by_hand_1234") == "...1234"  # chosen: its prefix is not shown


def test_endpoint_round_trips_as_json_and_has_a_group_of_its_own():
    endpoint = Endpoint("wh_1", "http://h/x", ("winback", "post_purchase"), "k" * 20, 5)
    assert Endpoint.from_json(endpoint.to_json()) == endpoint
    settings = load_settings(topic_prefix="acme.")
    assert endpoint_group(settings, "wh_1") == "acme.shopstream-webhook-wh_1"


def test_a_role_is_named_with_its_article():
    from models.keys import Role

    assert [role.key_phrase for role in Role] == ["a write key", "a read key", "an admin key"]
