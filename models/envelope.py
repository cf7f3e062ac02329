"""The canonical Segment-style envelope every event becomes.

Field names follow Segment's spec (``userId``, ``messageId``, ...) so that any
Segment-compatible producer works unchanged. Times are UTC with millisecond
precision; naive times are taken as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from models.errors import Code
from models.fields import Id, Tenant
from models.identity import device_key
from models.times import to_utc_ms

# what the columns hold: ClickHouse's DateTime64 spans 1900-2299 (validation checks the times
# it stores against it: timestamp has its own, narrower bounds, receivedAt these)
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(2300, 1, 1, tzinfo=UTC)


def _utc_time(value: datetime) -> datetime:
    """UTC, milliseconds; a time that UTC cannot hold (year 1 with an offset east of UTC,
    year 9999 with one west) is invalid, not an error of the stage."""
    try:
        return to_utc_ms(value)
    except OverflowError:
        raise PydanticCustomError(Code.TIMESTAMP_INVALID, "{value} is out of range",
                                  {"value": value.isoformat()}) from None


# the one spelling read ahead of pydantic (what fromisoformat also reads as other things, such
# as week dates, or differently across Python versions, such as hour 24, is left to pydantic)
_OWN_SPELLING = re.compile(r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z", re.ASCII)


def _read_time(value: Any, parse: ValidatorFunctionWrapHandler) -> datetime:
    """A time as :func:`_utc_time` makes it. The spelling shopstream writes
    (``2026-11-21T08:00:00.123Z``: most times read) is read by the standard library, ahead
    of pydantic's parser, in the one validator call a time gets; an aware UTC datetime in
    milliseconds is taken as it is; anything else, or text the standard library refuses,
    goes through pydantic's parser (and its errors), then :func:`_utc_time`."""
    kind = type(value)
    if kind is str and len(value) == 24 and _OWN_SPELLING.fullmatch(value):
        try:
            return datetime.fromisoformat(value)  # UTC (the "Z"), whole milliseconds
        except ValueError:
            pass
    elif kind is datetime and value.tzinfo is UTC and not value.microsecond % 1000:
        return value
    return _utc_time(parse(value))


UtcTime = Annotated[datetime, WrapValidator(_read_time)]


def name_of(event: dict[str, Any]) -> str:
    """A canonical event's (as JSON) name: its event name for a track call, else the call type
    ("page", "identify", ...): only track calls are named events, whatever else they carry."""
    call = event.get("type")
    if call == "track":
        return str(event.get("event") or "")
    return str(call or "")


def check_identity_and_name(values: Mapping[str, Any]) -> None:
    """The envelope's rules across fields (its fields' own rules are their types), on its
    fields by name: the model's, or the canonical dict's (:mod:`models.canonical`), where a
    field left out is None."""
    get = values.get
    if get("userId") is None and get("anonymousId") is None:
        raise PydanticCustomError(
            Code.IDENTITY_MISSING, "an event needs a userId or an anonymousId"
        )
    call, event = get("type"), get("event")
    if call == "track" and not (event and event.strip()):
        raise PydanticCustomError(Code.EVENT_MISSING, "a track event needs an event name")
    if call == "alias" and (get("previousId") is None or get("userId") is None):
        raise PydanticCustomError(Code.FIELD_REQUIRED,
                                  "an alias call needs a previousId and a userId")
    if call == "group" and get("groupId") is None:
        raise PydanticCustomError(Code.FIELD_REQUIRED, "a group call needs a groupId")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class PageContext(_Open):
    url: str | None = None
    path: str | None = None
    referrer: str | None = None
    title: str | None = None
    search: str | None = None


class Campaign(_Open):
    """UTM parameters: ``source``, ``medium``, ``name`` (utm_campaign), ``term``, ``content``."""

    source: str | None = None
    medium: str | None = None
    name: str | None = None
    term: str | None = None
    content: str | None = None


class Library(_Open):
    name: str | None = None
    version: str | None = None


class Context(_Open):
    page: PageContext | None = None
    campaign: Campaign | None = None
    userAgent: str | None = None
    ip: str | None = None
    locale: str | None = None
    library: Library | None = None
    sessionId: Id | None = Field(
        default=None, validation_alias=AliasChoices("sessionId", "session_id")
    )


class Envelope(BaseModel):
    """A validated event. ``properties`` holds the typed properties already dumped."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Literal["track", "identify", "page", "alias", "group"]
    event: str | None = None
    name: str | None = None
    userId: Id | None = None
    anonymousId: Id | None = None
    messageId: Id
    tenant: Tenant
    timestamp: UtcTime
    sentAt: UtcTime | None = None
    receivedAt: UtcTime | None = None
    context: Context = Context()
    properties: dict[str, Any] = {}
    traits: dict[str, Any] | None = None
    previousId: Id | None = None  # alias: the id the user was known by (Segment's spec)
    groupId: Id | None = None     # group: the account or company the user belongs to

    @model_validator(mode="after")
    def _identity_and_name(self) -> Envelope:
        check_identity_and_name(self.__dict__)
        return self

    @property
    def key(self) -> str:
        """The Kafka key (:func:`models.identity.device_key`): one device's events, before and
        after a login, stay ordered on one partition."""
        return device_key(self.userId, self.anonymousId, self.previousId)

    @property
    def name_or_type(self) -> str:
        """The event name for track, else the call type ("page", "identify")."""
        return self.event if self.type == "track" and self.event else self.type


# the envelope's model validator -> its rule on the fields (models/canonical.py)
ENVELOPE_RULES: dict[Any, Callable[[Mapping[str, Any]], None]] = {
    Envelope._identity_and_name: check_identity_and_name,
}
