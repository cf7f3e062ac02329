"""orjson serialisation that keeps money exact and times in UTC milliseconds.

Decimals are written as JSON numbers with exactly their digits (``19.90`` stays
``19.90``); datetimes as ``2026-11-21T08:00:00.123Z``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from models.envelope import Envelope
from models.times import format_time_json

# non-str keys: event names are a StrEnum, and orjson takes only exact str keys otherwise
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    # (times first: a canonical event has two or three, and fewer amounts)
    if isinstance(value, datetime):
        return orjson.Fragment(format_time_json(value))
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value).encode())
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default, option=_OPTIONS)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


_ENVELOPE_TO_DICT = Envelope.__pydantic_serializer__.to_python  # model_dump less its wrapper


def event_to_dict(event: Envelope) -> dict[str, Any]:
    """The canonical dict of an event: no ``None`` fields, Decimals kept."""
    return _ENVELOPE_TO_DICT(event, exclude_none=True)


def event_to_json(event: Envelope) -> bytes:
    return dumps(event_to_dict(event))


def event_from_json(data: bytes | str) -> Envelope:
    """Read a canonical event back (as written by :func:`event_to_json`)."""
    return Envelope.model_validate(orjson.loads(data))
