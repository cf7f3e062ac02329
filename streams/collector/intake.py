"""What the collector does to a request's body, pure: decode (gzip, size limits), parse, split
into events, stamp them, frame them for Kafka. The contract itself is checked later, by the
validation stage, in one place for every source; here only what makes a body unusable is
refused (``Rejected``), and then nothing of the request is produced.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from models.errors import Code
from models.flat import is_flat
from models.identity import raw_device_key
from models.times import format_time
from models.validation import message_id_for

EVENT_LIMIT = 32 * 1024  # Segment's limits: 32 KB per event ...
BATCH_LIMIT = 500 * 1024  # ... and 500 KB per batch (after gzip is undone)
SEGMENT_CALLS = ("track", "identify", "page", "screen", "alias", "group")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Rejected(Exception):
    """A request the collector refuses as a whole: HTTP ``status`` with ``code`` and message."""

    def __init__(self, status: int, code: str, message: str,
                 retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after  # seconds, for 429 and 503


@dataclass(frozen=True)
class Body:
    """A parsed request: its events and the write key it carries in the body, if any."""

    events: list[dict[str, Any]]
    write_key: str | None


def decode_body(raw: bytes, content_encoding: str | None) -> bytes:
    """The body's bytes, gunzipped when sent so; never more than ``BATCH_LIMIT``."""
    if content_encoding and content_encoding.strip().lower() == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, BATCH_LIMIT + 1)
        except zlib.error as exc:
            raise Rejected(400, Code.ENCODING_INVALID, f"the gzip body is corrupt: {exc}") from None
        if not inflater.eof and len(raw) <= BATCH_LIMIT:
            raise Rejected(400, Code.ENCODING_INVALID, "the gzip body is cut short")
    elif content_encoding and content_encoding.strip().lower() not in ("identity", ""):
        raise Rejected(400, Code.ENCODING_INVALID,
                       f"Content-Encoding {content_encoding!r} is not supported (gzip is)")
    if len(raw) > BATCH_LIMIT:
        raise Rejected(400, Code.TOO_LARGE, f"a request is at most {BATCH_LIMIT} bytes")
    return raw


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as uexc:
            raise Rejected(400, Code.ENCODING_INVALID,
                           f"the body is not UTF-8: {uexc.reason} at byte {uexc.start}") from None
        raise Rejected(400, Code.JSON_INVALID, f"the body is not JSON: {exc}") from None


def _objects(items: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        raise Rejected(400, Code.NOT_OBJECT, f"{where} must be a non-empty array of events")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise Rejected(400, Code.NOT_OBJECT, f"{where}[{index}] is not a JSON object")
    return items


def _write_key(doc: dict[str, Any]) -> str | None:
    key = doc.get("writeKey")
    return key if isinstance(key, str) and key else None


def _bounded(events: list[dict[str, Any]], sent: int) -> list[dict[str, Any]]:
    """Segment's per-event limit, on each event as the client sent it (compact JSON, with
    what it takes from its batch's shared ``context`` and ``integrations``), before the
    server stamps anything; when ``sent`` bytes (the body, and the shared part again) are
    within the limit, every event is."""
    if sent > EVENT_LIMIT:
        for event in events:
            size = len(orjson.dumps(event))
            if size > EVENT_LIMIT:
                raise Rejected(400, Code.TOO_LARGE, f"an event is at most {EVENT_LIMIT} bytes "
                               f"as sent; one is {size}")
    return events


def _own(event: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    """A Segment message's ``context`` or ``integrations``: an object, or none (absent, null,
    or ``[]``: what some clients send for an empty map). Anything else is refused: the
    collector stamps ``context.ip`` into it and merges a batch's shared ones into it."""
    value = event.get(name)
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise Rejected(400, Code.NOT_OBJECT, f"{where}.{name} must be a JSON object, not "
                       f"{orjson.dumps(value).decode()[:40]}")
    return value


def _checked(events: list[dict[str, Any]], sent: int, where: str) -> list[dict[str, Any]]:
    """``events`` (``where``: how the body names them), each within the event limit and, when
    Segment-style, with an object (or nothing) as its ``context`` and ``integrations``."""
    for index, event in enumerate(_bounded(events, sent)):
        if not is_flat(event):
            for name in ("context", "integrations"):
                _own(event, name, f"{where}[{index}]" if where else "the event")
    return events


def segment_body(raw: bytes, call: str | None) -> Body:
    """Segment's HTTP Tracking API: ``call`` is the path's method (``track`` ...), its type
    wins over the body's; None is ``/v1/batch``, whose ``context`` and ``integrations`` apply
    to every message (a message's own win)."""
    doc = _json(raw)
    if not isinstance(doc, dict):
        raise Rejected(400, Code.NOT_OBJECT, "the body must be a JSON object")
    if call is not None:
        [event] = _bounded([{k: v for k, v in doc.items() if k != "writeKey"}], len(raw))
        for name in ("context", "integrations"):
            _own(event, name, "the event")
        return Body([event | {"type": call}], _write_key(doc))
    events = _checked(_objects(doc.get("batch"), "batch"), len(raw), "batch")
    shared = {name: doc[name] for name in ("context", "integrations")
              if isinstance(doc.get(name), dict)}
    if shared:
        events = [{**event, **{name: {**value, **_own(event, name, f"batch[{index}]")}
                               for name, value in shared.items()}}
                  for index, event in enumerate(events)]
        # each event as sent is what it takes from the batch as well: a large shared context
        # must not become hundreds of large records (a 400 KB one, 1,500 small events)
        _bounded(events, len(raw) + len(orjson.dumps(shared)))
    return Body(events, _write_key(doc))


def flat_body(raw: bytes) -> Body:
    """``/collect``: one flat (or Segment-style) event, an array of them, or
    ``{"events": [...]}``."""
    doc = _json(raw)
    if isinstance(doc, list):
        return Body(_checked(_objects(doc, "the body"), len(raw), "the body"), None)
    if not isinstance(doc, dict):
        raise Rejected(400, Code.NOT_OBJECT, "the body must be a JSON object or an array")
    if "events" in doc and "event_type" not in doc and "type" not in doc:
        return Body(_checked(_objects(doc["events"], "events"), len(raw), "events"),
                    _write_key(doc))
    return Body(_checked([{k: v for k, v in doc.items() if k != "writeKey"}], len(raw), ""),
                _write_key(doc))


def stamp(event: dict[str, Any], *, tenant: str, received_at: datetime,
          client_ip: str | None) -> dict[str, Any]:
    """What only the server knows: when it received the event, the client's IP (unless the
    event names one), the key's tenant (over whatever the payload says). A messageId is fixed
    now from the event as sent, so a client's resend after a 503 is recognised downstream."""
    out = dict(event)
    if is_flat(out):
        if out.get("message_id") is None and out.get("event_id") is None:
            out["message_id"] = message_id_for(event)
        out["tenant"] = tenant
        out["received_at"] = format_time(received_at)
        if client_ip and out.get("ip_address") is None:
            out["ip_address"] = client_ip
        return out
    if out.get("messageId") is None:
        out["messageId"] = message_id_for(event)
    out["tenant"] = tenant
    out["receivedAt"] = format_time(received_at)
    context = out.get("context")
    context = dict(context) if isinstance(context, dict) else {}
    if client_ip and context.get("ip") is None:
        context["ip"] = client_ip
    out["context"] = context
    return out


def frame(event: dict[str, Any]) -> tuple[bytes | None, bytes]:
    """(Kafka key, value) of a stamped event: keyed by device as ``shopstream produce`` does
    (:func:`models.identity.raw_device_key`). Its size was checked as sent (``EVENT_LIMIT``,
    when the body was parsed): what the server stamps does not count."""
    return raw_device_key(event), orjson.dumps(event)


def credentials(authorization: str | None) -> str | None:
    """The key in an Authorization header: HTTP Basic's user (Segment's convention, the
    password is empty) or a Bearer token."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value, validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or None
    return None


def parse_networks(text: str) -> tuple[Network, ...]:
    """``10.0.0.0/8, 192.168.1.7`` -> networks; a bad entry is a ValueError naming it."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an address or a network") from None
    return tuple(networks)


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(peer: str | None, forwarded_for: str | None,
              trusted: Sequence[Network]) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the last
    address in ``X-Forwarded-For`` that is not itself a trusted proxy (what a client writes
    into the header itself is never believed)."""
    if peer is None or not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer
