"""IP address -> country (and city where the data has it).

By default looked up in geoip2fast's own data file, which ships inside the package (IPv4
and IPv6, country level): nothing is downloaded at run time. An operator may name a
MaxMind database instead (``SHOPSTREAM_GEOIP_DATABASE``: a GeoLite2 / GeoIP2 City or
Country ``.mmdb``), read with MaxMind's ``maxminddb`` reader: country and city. Private,
reserved and unknown addresses give empty fields. Cached per address and database; a data
file is opened once per process, at its first lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import maxminddb
from geoip2fast import GeoIP2Fast  # type: ignore[import-untyped]  # ships no type information

from models.errors import ConfigurationError

DATA_FILE = "geoip2fast-ipv6.dat.gz"  # shipped with geoip2fast: IPv4 and IPv6 countries
SHIPPED = ""  # the database argument that means geoip2fast's shipped data
_UNKNOWN = "--"
# MaxMind's database types that hold a country per network (City and Enterprise: a city too)
PLACE_TYPES = ("City", "Country", "Enterprise")


class GeoDatabaseError(ConfigurationError, ValueError):
    """The configured MaxMind database cannot be used (missing, unreadable, not one of places)."""


@dataclass(frozen=True, slots=True)
class Place:
    country: str = ""  # ISO 3166-1 alpha-2
    city: str = ""


@lru_cache(maxsize=1)
def _shipped() -> GeoIP2Fast:
    return GeoIP2Fast(geoip2fast_data_file=DATA_FILE, verbose=False)


@lru_cache(maxsize=4)
def _maxmind(database: str) -> maxminddb.Reader:
    try:
        reader = maxminddb.open_database(database)
    except FileNotFoundError as exc:
        raise GeoDatabaseError(f"the GeoIP database {database} does not exist") from exc
    except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise GeoDatabaseError(f"the GeoIP database {database} is not a MaxMind database "
                               f"(.mmdb) that can be read: {exc}") from exc
    kind = reader.metadata().database_type
    if not any(word in kind for word in PLACE_TYPES):
        reader.close()
        raise GeoDatabaseError(f"the GeoIP database {database} is a {kind} database; "
                               "use a GeoLite2 or GeoIP2 City or Country database")
    return reader


def geo_database(path: Path | str | None) -> str:
    """The database argument of :func:`place_of` for a configured path (None: the shipped
    data), opened now so that a bad path fails at start-up with a clear error."""
    if path is None or str(path) == SHIPPED:
        return SHIPPED
    database = str(Path(path).expanduser().resolve())
    _maxmind(database)
    return database


def _name(record: dict[str, Any], key: str, field: str) -> str:
    part = record.get(key)
    value = part.get(field) if isinstance(part, dict) else None
    if isinstance(value, dict):  # names: by language
        value = value.get("en")
    return value if isinstance(value, str) else ""


def _maxmind_place(ip: str, database: str) -> Place:
    try:
        record = _maxmind(database).get(ip)
    except ValueError:  # not an address
        return Place()
    if not isinstance(record, dict):
        return Place()
    return Place(_name(record, "country", "iso_code"), _name(record, "city", "names"))


@lru_cache(maxsize=65536)
def place_of(ip: str, database: str = SHIPPED) -> Place:
    """Where an address is, as far as the data knows; empty when it does not.
    ``database``: :data:`SHIPPED` or a MaxMind database's path (see :func:`geo_database`)."""
    ip = ip.strip()
    if not ip:
        return Place()
    if database != SHIPPED:
        return _maxmind_place(ip, database)
    found = _shipped().lookup(ip)
    country = getattr(found, "country_code", "") or ""
    if country == _UNKNOWN or getattr(found, "is_private", False):
        return Place()
    city = getattr(getattr(found, "city", None), "name", "") or ""
    return Place(country, city)
