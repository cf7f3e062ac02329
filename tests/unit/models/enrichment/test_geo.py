"""Addresses of known networks, looked up in the data file geoip2fast ships."""

from __future__ import annotations

import pytest

from models.enrichment.geo import Place, place_of


@pytest.mark.parametrize(("ip", "country"), [
    ("8.8.8.8", "US"),                        # Google public DNS
    ("81.2.69.142", "GB"),                    # MaxMind's documented UK test address
    ("200.147.67.142", "BR"),                 # UOL, Sao Paulo
    ("193.0.6.139", "NL"),                    # RIPE NCC, Amsterdam
    ("133.242.0.3", "JP"),                    # Sakura Internet
    ("85.214.132.117", "DE"),                 # Strato
    ("2a00:1450:4001:80b::200e", "DE"),       # Google, Frankfurt (IPv6)
    ("2001:67c:2e8:22::c100:68b", "NL"),      # RIPE NCC (IPv6)
])
def test_public_addresses_have_their_country(ip, country):
    assert place_of(ip).country == country


@pytest.mark.parametrize("ip", ["10.1.2.3", "192.168.0.1", "127.0.0.1", "::1", "", "not an ip",
                                "203.0.113.7"])
def test_private_reserved_and_invalid_addresses_have_no_place(ip):
    assert place_of(ip) == Place()


def test_the_shipped_data_is_country_level():
    assert place_of("8.8.8.8").city == ""
