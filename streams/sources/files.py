"""Input files for ``shopstream produce``: JSON lines, and the REES46 clickstream CSV.

Readers yield ``(line number, key, value bytes)``; the worker validates, so a
bad line still reaches Kafka and becomes a dead letter there, as it would from
any producer.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

import orjson

from models.ecommerce import EventName
from models.errors import ShopstreamError
from models.identity import raw_device_key
from models.serde import dumps
from models.times import format_time
from streams.sources.lines import read_lines

_REES46_NS = uuid.UUID("0b7c6f57-2a8e-4a43-9f4e-a1c2f0b6d3aa")
REES46_EVENTS = {
    "view": EventName.PRODUCT_VIEWED,
    "cart": EventName.PRODUCT_ADDED,
    "remove_from_cart": EventName.PRODUCT_REMOVED,
    "purchase": EventName.ORDER_COMPLETED,
}


def jsonl_records(stream: BinaryIO, max_bytes: int) -> Iterator[tuple[int, bytes | None, bytes]]:
    for number, line, _too_long in read_lines(stream, max_bytes):
        key = None
        try:
            obj = orjson.loads(line)
            if isinstance(obj, dict):
                key = raw_device_key(obj)  # a too long id is refused by validation
        except orjson.JSONDecodeError:
            pass
        yield number, key, line


def rees46_event(row: dict[str, str], tenant: str | None = None) -> dict[str, Any]:
    """Map one REES46 row onto a contract event (deterministic messageId per row)."""
    kind = row["event_type"].strip()
    when = datetime.strptime(row["event_time"].replace(" UTC", "+0000"), "%Y-%m-%d %H:%M:%S%z")
    product: dict[str, Any] = {"product_id": row["product_id"], "price": row["price"]}
    if row.get("category_code"):
        product["category"] = row["category_code"]
    if row.get("brand"):
        product["brand"] = row["brand"]
    product["category_id"] = row.get("category_id")
    identity = "|".join(row.get(col, "") for col in
                        ("event_time", "event_type", "product_id", "user_id", "user_session"))
    message_id = str(uuid.uuid5(_REES46_NS, identity))
    event_name = REES46_EVENTS.get(kind, kind)
    if kind == "purchase":
        props: dict[str, Any] = {
            "order_id": f"o-{message_id[:13]}",
            "currency": "USD",
            "subtotal": row["price"],
            "total": row["price"],
            "revenue": row["price"],
            "products": [{**product, "quantity": 1}],
        }
    elif kind in ("cart", "remove_from_cart"):
        props = {**product, "quantity": 1, "currency": "USD",
                 "cart_id": f"cart-{row.get('user_session', '')[:8]}"}
    else:
        props = {**product, "currency": "USD"}
    event: dict[str, Any] = {
        "type": "track",
        "event": event_name,
        "userId": row["user_id"],
        "messageId": message_id,
        "timestamp": format_time(when),
        "properties": props,
        "context": {"sessionId": row.get("user_session") or None},
    }
    if tenant:
        event["tenant"] = tenant
    return event


def csv_reader(stream: BinaryIO) -> csv.DictReader[str]:
    """The rows of a UTF-8 CSV file with a header line (``fieldnames``: that line). A
    byte-order mark (Excel's "CSV UTF-8" writes one) is skipped; bytes that are not UTF-8
    are kept as they are (``surrogateescape``), for :func:`undecodable` to find in a row, so
    one bad row is one dead letter, not the end of the file."""
    return csv.DictReader(io.TextIOWrapper(stream, encoding="utf-8-sig",
                                           errors="surrogateescape", newline=""))


def csv_rows(stream: BinaryIO) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` of a CSV file with a header line."""
    return enumerate(_with_header(csv_reader(stream)), start=2)


def _with_header(reader: csv.DictReader[str]) -> csv.DictReader[str]:
    """``reader``, once its header line is known to be text: a header that is not UTF-8
    names no column, so no row could be read (a ShopstreamError, before any row)."""
    if undecodable(dict.fromkeys(reader.fieldnames or [], "")) is not None:
        raise ShopstreamError("the CSV file's header line is not UTF-8: save it as UTF-8 "
                              "(spreadsheets: \"CSV UTF-8\")")
    return reader


def undecodable(row: dict[str, Any]) -> bytes | None:
    """A row of :func:`csv_reader` holding bytes that are not UTF-8: its fields' bytes, as
    read, comma-separated (what its dead letter keeps); None for a row of text."""
    fields = [value for value in (*row.values(), *row) if isinstance(value, str)]
    if all(value.isascii() for value in fields):
        return None
    try:
        for value in fields:
            value.encode("utf-8")
    except UnicodeEncodeError:
        return ",".join(fields).encode("utf-8", "surrogateescape")
    return None


# the columns every REES46 row is read from (the others are optional)
REES46_COLUMNS = ("event_time", "event_type", "product_id", "price", "user_id")


def rees46_objects(stream: BinaryIO, tenant: str | None = None,
                   ) -> Iterator[tuple[int, dict[str, Any] | bytes]]:
    """``(line number, event)`` per REES46 row; a row that cannot be mapped still travels,
    as ``{"rees46_row": ..., "error": ...}``, and a row that is not UTF-8 as its bytes
    (:func:`undecodable`), so validation turns either into a dead letter. A file whose
    header lacks a REES46 column is not one: a ShopstreamError, before any row."""
    reader = _with_header(csv_reader(stream))
    missing = [column for column in REES46_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        header = ",".join(reader.fieldnames or [])[:120] or "(empty)"
        raise ShopstreamError(f"not a REES46 CSV file: its header line ({header}) lacks "
                              f"{', '.join(missing)}")
    for number, row in enumerate(reader, start=2):
        raw = undecodable(row)
        if raw is not None:
            yield number, raw
            continue
        try:
            yield number, rees46_event(row, tenant)
        except (KeyError, ValueError) as exc:
            yield number, {"rees46_row": row, "error": str(exc)}


def rees46_records(stream: BinaryIO, tenant: str | None = None,
                   ) -> Iterator[tuple[int, bytes | None, bytes]]:
    for number, obj in rees46_objects(stream, tenant):
        if isinstance(obj, bytes):  # not UTF-8: sent as read, a dead letter once validated
            yield number, None, obj
            continue
        user = obj.get("userId")
        yield number, None if user is None else str(user).encode(), dumps(obj)
