"""Real referrers and campaign mediums -> source classes."""

from __future__ import annotations

import pytest

from models.enrichment.referrer import host_of, source_class

SHOP = "https://shop.example/products/42"


@pytest.mark.parametrize(("referrer", "expected"), [
    ("https://www.google.com/", "search"),
    ("https://www.google.co.uk/search?q=running+shoes", "search"),
    ("https://www.bing.com/search?q=sofa", "search"),
    ("https://duckduckgo.com/", "search"),
    ("https://search.yahoo.com/search?p=headphones", "search"),
    ("https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example%2F", "social"),
    ("https://m.facebook.com/", "social"),
    ("https://t.co/AbCdEf123", "social"),
    ("https://www.instagram.com/", "social"),
    ("https://www.reddit.com/r/BuyItForLife/comments/abc/", "social"),
    ("https://mail.google.com/", "email"),
    ("https://outlook.live.com/", "email"),
    ("https://shop.example/cart", "internal"),
    ("https://www.shop.example/", "internal"),
    ("https://news.ycombinator.com/item?id=1", "referral"),
    ("", "direct"),
    ("not a url", "direct"),
])
def test_referrers(referrer, expected):
    assert source_class(referrer, SHOP) == expected


@pytest.mark.parametrize(("medium", "expected"), [
    ("cpc", "paid"), ("CPC", "paid"), ("display", "paid"), ("email", "email"),
    ("newsletter", "email"), ("social", "social"),
])
def test_the_campaign_medium_wins_over_the_referrer(medium, expected):
    assert source_class("https://www.google.com/", SHOP, medium) == expected


def test_an_unknown_medium_falls_back_to_the_referrer():
    assert source_class("https://www.google.com/", SHOP, "podcast") == "search"
    assert source_class("", SHOP, "podcast") == "direct"


def test_host_of():
    assert host_of("https://WWW.Example.COM:8443/x") == "example.com"
    assert host_of("http://[::1") == ""
