"""Real referrers and campaign mediums -> source classes."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.enrichment.referrer import class_of_hosts, host_of, source_class

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


def _urlsplit_host(url: str) -> str:
    """The definition host_of keeps: urlsplit's hostname, lower case, without www."""
    try:
        host = (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


@pytest.mark.parametrize("url", [
    "https://Shop.Example/p/1", "http://www.shop.example", "https://user@shop.example/",
    "https://shop.example:8443/", "https://[2001:db8::1]/x", "https://sh\top.example/",
    "https://shop.example?q=1", "https://shop.example#top", "https://shop.example\\x",
    "https:///path", "https://", " https://shop.example/ ", "HTTPS://SHOP.EXAMPLE/",
    "https://exa\uff03mple.com/", "https://www./", "ftp://shop.example/", "//shop.example/x",
])
def test_host_of_reads_plain_urls_as_urlsplit_does(url):
    assert host_of(url) == _urlsplit_host(url)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["https://", "http://", "HTTP://", " https://", ""]),
       st.text(alphabet=st.sampled_from("aZ.-_@:[]/?#\\\t%0\uff03é"), max_size=24),
       st.sampled_from(["", "/", "/p/1?x=y", "#f"]))
def test_host_of_agrees_with_urlsplit_on_any_url(scheme, location, tail):
    url = scheme + location + tail
    assert host_of(url) == _urlsplit_host(url)


def test_the_source_class_depends_on_the_hosts_only():
    assert source_class("https://shop.example/cart", "https://Shop.Example/p/1") == "internal"
    assert class_of_hosts("shop.example", "shop.example", "") == "internal"
    assert class_of_hosts("google.com", "shop.example", "email") == "email"
