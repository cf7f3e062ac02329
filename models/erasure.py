"""The rules of erasing a person (pure): who they are, how they are named without their id,
and how each ClickHouse table that holds them is cleaned.

- A person is a tenant's user id plus every anonymous id linked to it (the ids they had
  before logging in); :class:`Person` holds them.
- Everything kept *about* an erasure names the person only by :func:`identity_hash`, a hash
  of tenant and id (HMAC-SHA256 with ``SHOPSTREAM_PII_HASH_KEY`` when set, as personal
  properties are hashed): the suppression list's keys and the audit table's subject.
- A table holds people when it has a person column (:data:`PERSON_COLUMNS`) or a raw
  payload in which their id appears as a JSON string (:data:`PAYLOAD_COLUMNS`).
- A rollup kept by materialized views is cleaned by :func:`rollup_mode`: a rollup with a
  person column in its sort key has one row per person (delete those rows); one
  partitioned by month, as its sources are, is rebuilt for the months the person had rows
  in; any other is rebuilt whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import orjson

from models.privacy import hashed

PERSON_COLUMNS = ("user_id", "anonymous_id", "user_key", "previous_id")
PAYLOAD_COLUMNS = ("payload",)
MONTHLY = "toYYYYMM("

RollupMode = Literal["delete", "months", "whole"]


@lru_cache(maxsize=65536)
def identity_hash(tenant: str, identity: str, key: bytes = b"") -> str:
    """The name of one of a person's ids wherever the id itself must not be kept (cached:
    once anyone is erased, every event's ids are hashed to be checked)."""
    return hashed(f"{tenant}\x1f{identity}", key)


@dataclass(frozen=True)
class Person:
    """A tenant's user and the anonymous ids linked to them."""

    tenant: str
    user_id: str
    anonymous_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.tenant.strip():
            raise ValueError("a tenant is needed")
        if not self.user_id.strip():
            raise ValueError("a user id is needed")

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id of the person, the user id first, each once, none blank."""
        seen = dict.fromkeys([self.user_id, *sorted(self.anonymous_ids)])
        return tuple(i for i in seen if i.strip())

    def linked(self, more: list[str] | tuple[str, ...] | set[str]) -> Person:
        """The same person with more anonymous ids."""
        return Person(self.tenant, self.user_id,
                      tuple(sorted({*self.anonymous_ids, *(m for m in more if m.strip())}
                                   - {self.user_id})))

    def hashes(self, key: bytes = b"") -> list[str]:
        return [identity_hash(self.tenant, identity, key) for identity in self.ids]

    def subject(self, key: bytes = b"") -> str:
        """The audit table's name for the person: the hash of their user id."""
        return identity_hash(self.tenant, self.user_id, key)


def payload_needle(identity: str) -> str:
    """An id as it appears in a raw JSON payload: a JSON string (quotes included)."""
    return orjson.dumps(identity).decode()


def holds_people(columns: set[str]) -> bool:
    return bool(columns & {*PERSON_COLUMNS, *PAYLOAD_COLUMNS})


def rollup_mode(sorting_key: str, partition_key: str, source_partition_keys: list[str]) -> RollupMode:
    """How a rollup is cleaned of a person (see the module's docstring)."""
    sort_columns = {part.strip() for part in sorting_key.split(",")}
    if sort_columns & set(PERSON_COLUMNS):
        return "delete"
    if partition_key.startswith(MONTHLY) and source_partition_keys and all(
            key.startswith(MONTHLY) for key in source_partition_keys):
        return "months"
    return "whole"


def suppression_value(request_id: str, erased_at_ms: int) -> bytes:
    """A suppression-list record's value: when and by which request, never who."""
    return orjson.dumps({"request_id": request_id, "erased_at_ms": erased_at_ms})
