"""Dead-letter records: the original bytes, every reason, where they came from, when.

A dead letter is JSON so any consumer can read it. The original payload is
kept byte-exact: as text when it is UTF-8, else base64. A dead letter always fits the
broker's message limit (1 MB by default): a payload over :data:`MAX_PAYLOAD_BYTES` keeps
its first bytes, with ``payload_truncated`` true and ``payload_bytes`` the original size;
reasons and the source key are cut the same way.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from models.errors import Issue
from models.serde import dumps
from models.times import format_time

# base64 grows 4/3: 512 KiB of payload, a key and the reasons stay well under 1 MB
MAX_PAYLOAD_BYTES = 512 * 1024
MAX_PAYLOAD_JSON = 700 * 1024  # the payload as written (escaped); base64 of 512 KiB is 683 KiB
MAX_KEY_BYTES = 16 * 1024
MAX_REASONS = 50


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
        "reasons": [{"code": str(i.code), "path": i.path[:500], "message": i.message[:1000]}
                    for i in issues[:MAX_REASONS]],
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key": base64.b64encode(key[:MAX_KEY_BYTES]).decode("ascii") if key is not None
            and len(dumps(_text_or_b64(key[:MAX_KEY_BYTES])[0])) > 2 * MAX_KEY_BYTES
            else _text_or_b64(key[:MAX_KEY_BYTES])[0] if key is not None else None,
        },
    }
    record["payload_bytes"] = len(payload)
    record["payload_truncated"] = len(payload) > MAX_PAYLOAD_BYTES
    text, encoding = _text_or_b64(payload[:MAX_PAYLOAD_BYTES])
    if encoding == "utf-8" and len(dumps(text)) > MAX_PAYLOAD_JSON:  # escaping grows it (\u0001)
        text, encoding = base64.b64encode(payload[:MAX_PAYLOAD_BYTES]).decode("ascii"), "base64"
    record["payload"] = text
    record["payload_encoding"] = encoding
    return dumps(record)


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The key a dead letter is produced with: the source key, cut to fit."""
    return None if key is None else key[:MAX_KEY_BYTES]


def _text_or_b64(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"  # (a cut inside a character falls to base64)
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def original_payload(record: dict[str, Any]) -> bytes:
    """The exact bytes a dead letter was made from (for replay tools and tests)."""
    if record["payload_encoding"] == "base64":
        return base64.b64decode(record["payload"])
    return str(record["payload"]).encode("utf-8")
