"""Dead-letter records: the original bytes, every reason, where they came from, when.

A dead letter is JSON so any consumer can read it. The original payload is
kept byte-exact: as text when it is UTF-8, else base64.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from models.errors import Issue
from models.serde import dumps
from models.times import format_time


def dead_letter(
    payload: bytes,
    issues: Sequence[Issue],
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    failed_at: datetime,
    stage: str = "validate",
) -> bytes:
    """Build the JSON value written to ``shop.events.dlq`` for one rejected event."""
    record: dict[str, Any] = {
        "stage": stage,
        "failed_at": format_time(failed_at),
        "reasons": [issue.as_dict() for issue in issues],
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key": _text_or_b64(key)[0] if key is not None else None,
        },
    }
    text, encoding = _text_or_b64(payload)
    record["payload"] = text
    record["payload_encoding"] = encoding
    return dumps(record)


def _text_or_b64(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def original_payload(record: dict[str, Any]) -> bytes:
    """The exact bytes a dead letter was made from (for replay tools and tests)."""
    if record["payload_encoding"] == "base64":
        return base64.b64decode(record["payload"])
    return str(record["payload"]).encode("utf-8")
