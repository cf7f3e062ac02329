"""What the validation stage keeps of personal data: the IP address and configured keys.

Pure rules, applied to every event after enrichment has used the full address:

- the IP (``context.ip``) is truncated to its network (IPv4 /24, IPv6 /48: the last
  octet, the last 80 bits zeroed), dropped, or kept, as configured; an address that does
  not parse is dropped unless addresses are kept;
- each configured key (``email``, ``phone``, ``name``, ``address`` by default) at the top
  level of ``properties`` is replaced by a hash of its value (``sha256:<hex>``; HMAC-SHA256
  with the configured key when there is one, so values cannot be guessed by hashing
  candidates) or removed. A field the contract defines for that event (``name`` of Product
  Viewed is the product's name) is not personal data and stays as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

IP_HANDLING = ("truncate", "drop", "keep")
PII_HANDLING = ("hash", "remove")
DEFAULT_PII_KEYS = frozenset({"email", "phone", "name", "address"})
HASH_PREFIX = "sha256:"


@dataclass(frozen=True, slots=True)
class PrivacyRules:
    ip_handling: str = "truncate"
    pii_keys: frozenset[str] = field(default_factory=lambda: DEFAULT_PII_KEYS)
    pii_handling: str = "hash"
    hash_key: bytes = b""

    def __post_init__(self) -> None:
        if self.ip_handling not in IP_HANDLING:
            raise ValueError(f"IP handling must be one of {', '.join(IP_HANDLING)}")
        if self.pii_handling not in PII_HANDLING:
            raise ValueError(f"PII handling must be one of {', '.join(PII_HANDLING)}")


def _octet(text: str) -> bool:
    """A decimal octet as ipaddress accepts it (0-255, no leading zero)."""
    return text.isdecimal() and text.isascii() and len(text) <= 3 and int(text) <= 255 and (
        text == "0" or text[0] != "0")


@lru_cache(maxsize=65536)
def truncated_ip(ip: str) -> str | None:
    """The address's network: IPv4 /24, IPv6 /48; None when it is no address."""
    parts = ip.strip().split(".")
    if len(parts) == 4 and all(_octet(part) for part in parts):  # the common case, quickly
        return f"{parts[0]}.{parts[1]}.{parts[2]}.0"
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:a.b.c.d is an IPv4 address
    if isinstance(address, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Address(int(address) >> 8 << 8))
    return str(ipaddress.IPv6Address(int(address) >> 80 << 80))


def protected_ip(ip: str, handling: str) -> str | None:
    """What is kept of ``context.ip`` (None: nothing)."""
    if handling == "keep":
        return ip
    return None if handling == "drop" else truncated_ip(ip)


def hashed(value: Any, key: bytes = b"") -> str:
    """A stable pseudonym of a value: equal values, equal hashes."""
    text = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    digest = (hmac.new(key, text.encode(), hashlib.sha256) if key else hashlib.sha256(text.encode()))
    return HASH_PREFIX + digest.hexdigest()


def protected_properties(props: dict[str, Any], rules: PrivacyRules,
                         contract_fields: AbstractSet[str] = frozenset()) -> dict[str, Any]:
    """``props`` with the configured keys hashed or removed (a new dict when any is there)."""
    found = rules.pii_keys & props.keys()
    if found:
        found = found - contract_fields
    if not found:
        return props
    out = dict(props)
    for key in found:
        if rules.pii_handling == "remove" or out[key] is None:
            del out[key]
        else:
            out[key] = hashed(out[key], rules.hash_key)
    return out


def protect(data: dict[str, Any], rules: PrivacyRules, contract_fields: AbstractSet[str]) -> None:
    """Apply the rules to one event being validated (``data`` is validation's own copy;
    the dicts inside it are replaced, never changed in place). An ``ip`` that is not a
    string is left for validation to reject. Called for every event: few calls."""
    context = data.get("context")
    if rules.ip_handling != "keep" and isinstance(context, dict):
        ip = context.get("ip")
        if isinstance(ip, str):
            context = dict(context)
            # no address is longer than 64 characters (and the cache holds only short keys)
            kept = truncated_ip(ip) if rules.ip_handling == "truncate" and len(ip) <= 64 else None
            if kept is None:
                del context["ip"]
            else:
                context["ip"] = kept
            data["context"] = context
    props = data.get("properties")
    if rules.pii_keys and isinstance(props, dict) and not rules.pii_keys.isdisjoint(props):
        data["properties"] = protected_properties(props, rules, contract_fields)
