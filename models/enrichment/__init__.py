"""Enrichment: what an event's context says about the shopper's device, whether it is a bot,
where they are and where the visit came from.

Called by validation (:func:`models.validation.validate_obj`) once per event, before the
envelope is built; the result travels in the canonical event as ``context.enrichment``
(and lands in the ``events`` columns of the same names). Every part is a pure function
cached on its input (user agent, IP, referrer), so a shopper's repeated events cost dict
look-ups.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from models.enrichment.geo import SHIPPED, place_of
from models.enrichment.referrer import class_of_hosts, host_of
from models.enrichment.useragent import device_of

ENRICHMENT_KEY = "enrichment"
# what the parsers and caches see of a field: real values are shorter, and a huge one (an
# event may be 256 KiB) must cost neither a long parse nor cache memory (the crawler list's
# regular expression takes about 1 ms on a browser's agent, 10 ms on 256 characters of junk)
MAX_AGENT, MAX_URL, MAX_IP = 256, 2048, 64
FIELDS = ("browser", "os", "device_type", "is_bot", "country", "city", "source_class")

__all__ = ["ENRICHMENT_KEY", "FIELDS", "enrichment_of", "is_bot_event", "warm_up", "with_enrichment"]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@lru_cache(maxsize=65536)
def _enrichment(user_agent: str, ip: str, referrer_host: str, page_host: str, medium: str,
                geo_database: str) -> dict[str, Any]:
    """Cached (on hosts, not URLs: every page of a shopper's visit is one entry): callers copy
    it, never change it."""
    device = device_of(user_agent)
    place = place_of(ip, geo_database)
    return {"browser": device.browser, "os": device.os, "device_type": device.device_type,
            "is_bot": device.is_bot, "country": place.country, "city": place.city,
            "source_class": class_of_hosts(referrer_host, page_host, medium)}


def enrichment_of(context: dict[str, Any], properties: Any, page_call: bool,
                  geo_database: str = SHIPPED) -> dict[str, Any]:
    """The enrichment of one event from its (raw, not yet validated) context and properties;
    a page call's referrer and URL may also be in its properties. ``geo_database``: where
    places come from (:func:`models.enrichment.geo.geo_database`). Called for every event:
    written to make few calls."""
    get = context.get
    agent, ip, page, campaign = get("userAgent"), get("ip"), get("page"), get("campaign")
    referrer = url = medium = ""
    if type(page) is dict:
        referrer, url = _text(page.get("referrer")), _text(page.get("url"))
    if page_call and type(properties) is dict:
        referrer = referrer or _text(properties.get("referrer"))
        url = url or _text(properties.get("url"))
    if type(campaign) is dict:
        medium = _text(campaign.get("medium"))[:MAX_IP]
    referrer_host = host_of(referrer[:MAX_URL]) if referrer else ""
    return dict(_enrichment(agent[:MAX_AGENT] if type(agent) is str else "",
                            ip[:MAX_IP] if type(ip) is str else "", referrer_host,
                            host_of(url[:MAX_URL]) if referrer_host and url else "", medium,
                            geo_database))


def warm_up(geo_database: str = SHIPPED) -> None:
    """Load the user-agent rules and the places database now (about 0.3 s on first use),
    so that a stage's first events after a start do not wait for them."""
    device_of("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0 Safari/537.36")  # a browser: the parsers compile what it takes
    place_of("127.0.0.1", geo_database)


def with_enrichment(data: dict[str, Any], geo_database: str = SHIPPED) -> Any:
    """``data``'s context (a new dict) with its enrichment, replacing any the sender put
    there; a context that is not an object is returned as it is, for validation to reject."""
    context = data.get("context")
    if context is None:
        context = {}
    elif not isinstance(context, dict):
        return context
    return {**context, ENRICHMENT_KEY: enrichment_of(context, data.get("properties"),
                                                     data.get("type") == "page", geo_database)}


def is_bot_event(event: dict[str, Any]) -> bool:
    """Whether a canonical event (as JSON) was flagged as a bot's by its enrichment."""
    context = event.get("context")
    if not isinstance(context, dict):
        return False
    enrichment = context.get(ENRICHMENT_KEY)
    return isinstance(enrichment, dict) and bool(enrichment.get("is_bot"))
