"""User agent -> browser, operating system, device type and the bot flag.

Parsed with ua-parser (the uap-core rules, precompiled by ua-parser-builtins) and checked
against crawlerdetect's crawler list; the result is cached per user-agent string, so a
shopper's many events cost one parse. Device types: ``desktop``, ``mobile``, ``tablet``,
``bot``, or empty when no user agent was sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from crawlerdetect import CrawlerDetect  # type: ignore[import-untyped]  # ships no type information
from ua_parser import parse

MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS",
                       "Firefox OS", "Tizen", "HarmonyOS"})
# tablets: uap-core names the device; an Android user agent without "Mobile" is a tablet
# (Google's guidance to browser makers)
TABLET = re.compile(r"iPad|Tablet|Kindle|Silk|PlayBook|Nexus (7|9|10)|SM-T\d", re.I)
BOT_DEVICE = "Spider"  # uap-core's device family of crawlers
_crawlers = CrawlerDetect()


@dataclass(frozen=True, slots=True)
class Device:
    browser: str = ""
    os: str = ""
    device_type: str = ""
    is_bot: bool = False


def _family(part: object) -> str:
    family = getattr(part, "family", "") or ""
    return "" if family == "Other" else str(family)


@lru_cache(maxsize=8192)
def device_of(user_agent: str) -> Device:
    """What a user-agent string says about the client (empty fields where it says nothing)."""
    if not user_agent.strip():
        return Device()
    parsed = parse(user_agent)
    browser, os_name = _family(parsed.user_agent), _family(parsed.os)
    device = parsed.device.family if parsed.device else ""
    if device == BOT_DEVICE or _crawlers.isCrawler(user_agent):
        return Device(browser, os_name, "bot", True)
    if TABLET.search(user_agent) or (os_name == "Android" and "Mobile" not in user_agent):
        kind = "tablet"
    elif os_name in MOBILE_OS or "Mobile" in user_agent:
        kind = "mobile"
    else:
        kind = "desktop"
    return Device(browser, os_name, kind, False)
