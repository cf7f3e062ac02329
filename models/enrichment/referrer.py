"""Referrer and campaign -> source class: where a visit came from.

Classes: ``paid``, ``email``, ``social`` (from the UTM medium when one was sent, else from
the referrer's host), ``search``, ``internal`` (the referrer is the shop's own host),
``referral`` (any other site) and ``direct`` (no referrer, no campaign). The hosts are a
small table, below, of the search engines, social networks and webmail services that send
most traffic; a host matches when it is one of them or a subdomain of one (``m.facebook.com``).
No maintained referrer-parsing library is published on PyPI (``referer-parser`` was last
released in 2016), hence the table.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

PAID_MEDIUMS = frozenset({"cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-search",
                          "cpm", "cpv", "cpa", "display", "banner", "affiliate", "paid_social",
                          "paidsocial", "retargeting"})
EMAIL_MEDIUMS = frozenset({"email", "e-mail", "newsletter", "mail"})
SOCIAL_MEDIUMS = frozenset({"social", "social-network", "social_network", "sm", "social-media"})

SEARCH_HOSTS = frozenset({
    "google.com", "bing.com", "yahoo.com", "search.yahoo.com", "duckduckgo.com", "baidu.com", "yandex.ru",
    "yandex.com", "ecosia.org", "ask.com", "naver.com", "seznam.cz", "qwant.com",
    "startpage.com", "search.brave.com", "aol.com",
})
SOCIAL_HOSTS = frozenset({
    "facebook.com", "fb.com", "l.facebook.com", "instagram.com", "l.instagram.com",
    "twitter.com", "t.co", "x.com", "linkedin.com", "lnkd.in", "pinterest.com", "pin.it",
    "reddit.com", "tiktok.com", "youtube.com", "youtu.be", "snapchat.com", "tumblr.com",
    "vk.com", "threads.net", "whatsapp.com", "telegram.org", "t.me", "weibo.com",
})
EMAIL_HOSTS = frozenset({
    "mail.google.com", "outlook.live.com", "outlook.office.com", "outlook.office365.com",
    "mail.yahoo.com", "mail.aol.com", "mail.proton.me", "mail.zoho.com", "webmail.gmx.net",
    "mail.yandex.ru", "icloud.com",
})


_PLAIN_SCHEMES = ("https://", "http://")
# what makes a network location more than a host (user info, a port, an IPv6 address), or
# characters urlsplit removes first: such URLs (and any non-ASCII one, which urlsplit
# checks after normalising it) take urlsplit's own path
_NOT_PLAIN = frozenset("@:[]\t\r\n?#")


@lru_cache(maxsize=65536)
def host_of(url: str) -> str:
    """The lower-case host of a URL, without ``www.``; empty when there is none. The same
    answer as ``urlsplit(url).hostname``: a plain ``http(s)://host/...`` (most referrers and
    page URLs) is read directly, anything else by urlsplit. Cached: a shop's page URLs
    repeat across shoppers."""
    url = url.strip()
    for scheme in _PLAIN_SCHEMES:
        if url.startswith(scheme):
            location = url[len(scheme):].partition("/")[0]
            if location.isascii() and not _NOT_PLAIN.intersection(location):
                host = location.lower()
                return host[4:] if host.startswith("www.") else host
            break
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def _in(host: str, table: frozenset[str]) -> bool:
    parts = host.split(".")
    return any(".".join(parts[i:]) in table for i in range(len(parts) - 1))


def _by_medium(medium: str) -> str:
    medium = medium.strip().lower()
    if medium in PAID_MEDIUMS:
        return "paid"
    if medium in EMAIL_MEDIUMS:
        return "email"
    if medium in SOCIAL_MEDIUMS:
        return "social"
    return ""


def source_class(referrer: str, page_url: str = "", utm_medium: str = "") -> str:
    """The source class of a visit from its referrer, its page's URL and its UTM medium."""
    return class_of_hosts(host_of(referrer) if referrer else "",
                          host_of(page_url) if referrer and page_url else "", utm_medium)


@lru_cache(maxsize=16384)
def class_of_hosts(referrer_host: str, page_host: str, utm_medium: str) -> str:
    """:func:`source_class` from the hosts of the referrer and the page (what it depends on:
    a cache keyed on them hits for every page of a site, where one keyed on URLs misses)."""
    if utm_medium and (by_medium := _by_medium(utm_medium)):
        return by_medium
    host = referrer_host
    if not host:
        return "direct"
    if host == page_host:
        return "internal"
    if _in(host, EMAIL_HOSTS):
        return "email"
    if _in(host, SEARCH_HOSTS) or _in_google(host):
        return "search"
    if _in(host, SOCIAL_HOSTS):
        return "social"
    return "referral"


def _in_google(host: str) -> bool:
    """Google's search site of any country: google.<tld>, google.co.<tld>, google.com.<tld>."""
    return host.split(".")[0] == "google"
