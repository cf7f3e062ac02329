"""Endpoint records: what `webhooks add` accepts, and how they travel on the topic; the
endpoint topic read to its end while its leader is not known yet."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from models.errors import ShopstreamError
from models.settings import TRIGGER_KINDS, load_settings
from streams.webhooks.endpoints import (
    Endpoint,
    EndpointFollower,
    check_url,
    endpoint_group,
    new_endpoint,
    parse_types,
)


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


@pytest.mark.parametrize(("url", "why"), [
    ("http://127.0.0.1:99999/x", "a port is a number from 1 to 65535"),
    ("http://127.0.0.1:65536/x", "a port is a number from 1 to 65535"),
    ("http://127.0.0.1:0/x", "a port is a number from 1 to 65535"),
    ("http://127.0.0.1:abc/x", "a port is a number from 1 to 65535"),
    ("http://127.0.0.1:+80/x", "a port is a number from 1 to 65535"),
    ("http://[::1/x", "Invalid IPv6 URL"),
    ("http://crm.example.com/hooks x", "spaces, control characters and non-ASCII"),
    ("http://crm.example.com/h\x00", "spaces, control characters and non-ASCII"),
    ("http://crm.example.com/bestellung/ä", "spaces, control characters and non-ASCII"),
    ("http://user:pw@crm.example.com/x", "no user or password"),
])
def test_a_url_urllib_cannot_post_to_is_refused_in_one_line(url, why):
    with pytest.raises(ShopstreamError) as caught:
        new_endpoint(url, "winback", None, 0)
    assert why in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/x", "https://crm.example.com:65535/h?a=%20b",
                                 "http://[::1]:8080/x", "HTTP://crm.example.com", "http://h:/x"])
def test_a_url_urllib_can_post_to_is_kept_as_given(url):
    assert check_url(url) == url


class NoLeaderYet:
    """A consumer of a topic created a moment ago: its end is asked ``misses`` times before
    the partition's leader is known."""

    def __init__(self, misses: int) -> None:
        self.misses, self.asked = misses, 0

    def get_watermark_offsets(self, tp, timeout):
        self.asked += 1
        if self.asked <= self.misses:
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION, "no leader yet"))
        return 0, 0

    def close(self) -> None:
        pass


def follower_with(consumer: NoLeaderYet) -> EndpointFollower:
    follower = EndpointFollower.__new__(EndpointFollower)
    follower.bootstrap, follower.topic, follower.endpoints = "b:9092", "t.shop.webhooks", {}
    follower.consumer = consumer  # type: ignore[assignment]
    return follower


def test_the_endpoint_topic_is_read_once_its_new_leader_is_known():
    consumer = NoLeaderYet(misses=1)
    assert follower_with(consumer).read_to_end(timeout=10) == {}
    assert consumer.asked == 2


def test_an_endpoint_topic_without_a_leader_is_one_line_at_the_deadline():
    with pytest.raises(ShopstreamError, match=r"b:9092 did not answer with the end of "
                                              r"t\.shop\.webhooks \[0\] within 0\.2 s"):
        follower_with(NoLeaderYet(misses=10**6)).read_to_end(timeout=0.2)
