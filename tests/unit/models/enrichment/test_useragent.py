"""Real user-agent strings, as browsers and crawlers send them."""

from __future__ import annotations

import pytest

from models.enrichment.useragent import Device, device_of

CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0.0.0 Safari/537.36")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
SAFARI_IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/120.0.6099.144 Mobile Safari/537.36")
CHROME_ANDROID_TABLET = ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 "
                         "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36")
FIREFOX_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 "
               "Firefox/121.0")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)")
CURL = "curl/8.4.0"


@pytest.mark.parametrize(("agent", "expected"), [
    (CHROME_WINDOWS, Device("Chrome", "Windows", "desktop", False)),
    (FIREFOX_MAC, Device("Firefox", "Mac OS X", "desktop", False)),
    (SAFARI_IPHONE, Device("Mobile Safari", "iOS", "mobile", False)),
    (SAFARI_IPAD, Device("Mobile Safari", "iOS", "tablet", False)),
    (CHROME_ANDROID, Device("Chrome Mobile", "Android", "mobile", False)),
    (CHROME_ANDROID_TABLET, Device("Chrome", "Android", "tablet", False)),
])
def test_browsers_give_browser_os_and_device_type(agent, expected):
    assert device_of(agent) == expected


@pytest.mark.parametrize("agent", [GOOGLEBOT, GOOGLEBOT_SMARTPHONE, CURL, "python-requests/2.31.0",
                                   "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"])
def test_crawlers_and_scripts_are_bots(agent):
    device = device_of(agent)
    assert device.is_bot and device.device_type == "bot"


def test_googlebot_is_named_and_a_smartphone_crawler_is_still_a_bot():
    assert device_of(GOOGLEBOT).browser == "Googlebot"
    assert device_of(GOOGLEBOT_SMARTPHONE).os == "Android"  # what it claims, but a bot


def test_no_user_agent_says_nothing():
    assert device_of("") == Device() == device_of("   ")
    assert not device_of("").is_bot


def test_parsed_once_per_agent():
    device_of.cache_clear()
    device_of(CHROME_WINDOWS)
    device_of(CHROME_WINDOWS)
    assert (device_of.cache_info().hits, device_of.cache_info().misses) == (1, 1)
