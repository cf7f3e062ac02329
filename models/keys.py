"""API keys, defined once: what a key is, how its secret is made, stored and checked, and what
each role may do.

A key is ``ssk_<key id>_<secret>``: the key id (12 hex digits) names its record, the secret
(43 URL-safe characters, 256 random bits) proves it. Only an scrypt hash of the secret is
stored. A record is a JSON object on the compacted keys topic, keyed by the key id; a revoked
key keeps its record with ``revoked`` set, so listings show it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

import orjson

from models.errors import ShopstreamError
from models.fields import TENANT_PATTERN, TENANT_RULE

PREFIX = "ssk_"
_KEY = re.compile(r"^ssk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
# scheme://host[:port]: a name or an IPv4 address, or an IPv6 address in brackets
_ORIGIN = re.compile(r"^(https?)://([^/\s:@?#\[\]]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?$",
                     re.IGNORECASE)
SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # OWASP's minimum for scrypt; a check takes ~50 ms


class Role(StrEnum):
    WRITE = "write"  # send events (the collector)
    READ = "read"  # query its tenant's data (SQL, reports, live views, recommendations)
    ADMIN = "admin"  # read, plus train and activate models

    @property
    def key_phrase(self) -> str:
        """"a write key", "an admin key": for messages."""
        return f"{'an' if self.value[0] in 'aeiou' else 'a'} {self.value} key"


class ApiKeyError(ShopstreamError):
    """A key that cannot be made or used as asked; the message says why."""


def may_write(role: Role) -> bool:
    return role is Role.WRITE


def may_read(role: Role) -> bool:
    return role in (Role.READ, Role.ADMIN)


def may_administer(role: Role) -> bool:
    return role is Role.ADMIN


@dataclass(frozen=True)
class ApiKey:
    """One key's record (never its secret)."""

    key_id: str
    tenant: str
    role: Role
    salt: str
    digest: str
    origins: tuple[str, ...] = ()
    rate: float | None = None  # events per second per collector; None: the collector's default
    created_at: str = ""
    revoked: bool = False
    note: str = ""

    def to_json(self) -> bytes:
        return orjson.dumps({**asdict(self), "origins": list(self.origins)})

    @classmethod
    def from_json(cls, raw: bytes) -> ApiKey:
        data: dict[str, Any] = orjson.loads(raw)
        return cls(key_id=data["key_id"], tenant=data["tenant"], role=Role(data["role"]),
                   salt=data["salt"], digest=data["digest"],
                   origins=tuple(data.get("origins") or ()), rate=data.get("rate"),
                   created_at=data.get("created_at", ""), revoked=bool(data.get("revoked")),
                   note=data.get("note", ""))

    def revoke(self) -> ApiKey:
        return replace(self, revoked=True)

    def allows_origin(self, origin: str) -> bool:
        """Whether a browser page at ``origin`` may use this key (``*`` allows any). Scheme
        and host match in any case (a record stored before origins were kept lower-case
        too), the port exactly."""
        wanted = origin_form(origin)
        return any(mine == "*" or origin_form(mine) == wanted for mine in self.origins)


def hash_secret(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT, dklen=32).hex()


def check_tenant(tenant: str) -> str:
    if not TENANT_PATTERN.match(tenant):
        raise ApiKeyError(f"tenant {tenant!r} must be {TENANT_RULE}")
    return tenant


def origin_form(origin: str) -> str:
    """An origin as a browser serialises it (RFC 6454): scheme and host lower-case (they are
    case-insensitive), no trailing slash, no default port (a browser never sends ``:443``
    for https nor ``:80`` for http); any other port is kept as written."""
    origin = origin.strip().rstrip("/").lower()
    for scheme, port in (("https://", ":443"), ("http://", ":80")):
        if origin.startswith(scheme) and origin.endswith(port):
            return origin[: -len(port)]
    return origin


def check_origin(origin: str) -> str:
    """``*`` or a browser origin, ``scheme://host[:port]`` without a path, in the form a
    browser sends it: lower-case, a host of other letters than ASCII in its IDNA form
    (``xn--``)."""
    origin = origin.strip().rstrip("/")
    if origin == "*":
        return origin
    match = _ORIGIN.match(origin)
    if match is None:
        raise ApiKeyError(f"origin {origin!r} must be '*' or scheme://host[:port], e.g. "
                          "https://shop.example.com")
    scheme, host, port = match.groups()
    if "*" in host:
        raise ApiKeyError(f"origin {origin!r}: a host is one name, not a pattern (list each "
                          "origin, or '*' for any)")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ApiKeyError(f"origin {origin!r}: the host is not a valid name: {exc}") from None
    return origin_form(f"{scheme}://{host}{port or ''}")


def new_key(tenant: str, role: Role, created_at: str, origins: tuple[str, ...] = (),
            rate: float | None = None, note: str = "") -> tuple[str, ApiKey]:
    """A fresh key: the full key string (shown once) and the record to store."""
    if rate is not None and rate <= 0:
        raise ApiKeyError(f"rate must be > 0 events per second, got {rate}")
    if origins and role is not Role.WRITE:
        raise ApiKeyError("allowed origins are for write keys (browsers send events)")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    record = ApiKey(key_id, check_tenant(tenant), role, salt.hex(), hash_secret(secret, salt),
                    tuple(check_origin(o) for o in origins), rate, created_at, note=note)
    return f"{PREFIX}{key_id}_{secret}", record


def split_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    match = _KEY.match(presented.strip())
    return (match.group(1), match.group(2)) if match else None


def secret_matches(record: ApiKey, secret: str) -> bool:
    return hmac.compare_digest(hash_secret(secret, bytes.fromhex(record.salt)), record.digest)
