"""IP address -> country (and city where the data has it).

Looked up in geoip2fast's own data file, which ships inside the package (IPv4 and IPv6,
country level): nothing is downloaded at run time. Private, reserved and unknown addresses
give empty fields. Cached per address; the data file is read once, at the first lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from geoip2fast import GeoIP2Fast  # type: ignore[import-untyped]  # ships no type information

DATA_FILE = "geoip2fast-ipv6.dat.gz"  # shipped with geoip2fast: IPv4 and IPv6 countries
_UNKNOWN = "--"


@dataclass(frozen=True, slots=True)
class Place:
    country: str = ""  # ISO 3166-1 alpha-2
    city: str = ""


@lru_cache(maxsize=1)
def _reader() -> GeoIP2Fast:
    return GeoIP2Fast(geoip2fast_data_file=DATA_FILE, verbose=False)


@lru_cache(maxsize=65536)
def place_of(ip: str) -> Place:
    """Where an address is, as far as the shipped data knows; empty when it does not."""
    if not ip:
        return Place()
    found = _reader().lookup(ip.strip())
    country = getattr(found, "country_code", "") or ""
    if country == _UNKNOWN or getattr(found, "is_private", False):
        return Place()
    city = getattr(getattr(found, "city", None), "name", "") or ""
    return Place(country, city)
