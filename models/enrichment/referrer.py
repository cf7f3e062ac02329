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


def host_of(url: str) -> str:
    """The lower-case host of a URL, without ``www.``; empty when there is none."""
    try:
        host = (urlsplit(url.strip()).hostname or "").lower()
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


@lru_cache(maxsize=16384)
def source_class(referrer: str, page_url: str = "", utm_medium: str = "") -> str:
    """The source class of a visit from its referrer, its page's URL and its UTM medium."""
    if utm_medium and (by_medium := _by_medium(utm_medium)):
        return by_medium
    host = host_of(referrer) if referrer else ""
    if not host:
        return "direct"
    if host == host_of(page_url):
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
