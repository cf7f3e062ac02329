"""Addresses of known networks, looked up in the data file geoip2fast ships, or in a
MaxMind database."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.enrichment.geo import SHIPPED, GeoDatabaseError, Place, geo_database, place_of
from models.errors import ConfigurationError


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


# MaxMind's published test database (tests/data/README.md); its places, from
# source-data/GeoLite2-City-Test.json of github.com/maxmind/MaxMind-DB
MAXMIND_TEST_DB = Path(__file__).resolve().parents[3] / "data" / "GeoLite2-City-Test.mmdb"


@pytest.mark.parametrize(("ip", "place"), [
    ("81.2.69.142", Place("GB", "London")),
    ("89.160.20.115", Place("SE", "Linköping")),
    ("216.160.83.57", Place("US", "Milton")),
    ("175.16.199.10", Place("CN", "Changchun")),
    ("2.125.160.218", Place("GB", "Boxford")),
    ("67.43.156.1", Place("BT", "")),          # a country without a city
    ("2001:220::1", Place("KR", "")),          # IPv6
])
def test_a_maxmind_database_gives_country_and_city(ip, place):
    database = geo_database(MAXMIND_TEST_DB)
    assert place_of(ip, database) == place


@pytest.mark.parametrize("ip", ["10.1.2.3", "127.0.0.1", "8.8.8.8", "", "not an ip", "::1"])
def test_addresses_a_maxmind_database_does_not_hold_have_no_place(ip):
    assert place_of(ip, geo_database(MAXMIND_TEST_DB)) == Place()


def test_the_shipped_data_stays_the_default():
    assert geo_database(None) == SHIPPED
    assert place_of("81.2.69.142") == Place("GB", "")
    assert place_of("81.2.69.142", geo_database(MAXMIND_TEST_DB)) == Place("GB", "London")


def test_a_missing_or_unusable_database_is_a_clear_configuration_error(tmp_path):
    with pytest.raises(GeoDatabaseError, match="does not exist"):
        geo_database(tmp_path / "GeoLite2-City.mmdb")
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(GeoDatabaseError, match="not a MaxMind database"):
        geo_database(junk)
    assert issubclass(GeoDatabaseError, ConfigurationError)
