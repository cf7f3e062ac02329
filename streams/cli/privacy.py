"""``shopstream privacy erase|export --tenant T --user U``: a person's right to erasure and
to a copy of their data.

``erase`` first puts every id of the person (the user id and the anonymous ids linked to
it) on the suppression list (``shop.privacy.erased``: hashes only), so the validation stage
drops their events from then on and the live stage forgets their carts, customer record and
sessions; tombstones their published recommendations on ``shop.recommendations``; then
deletes their rows from every ClickHouse table, rebuilds the rollups their events fed, checks
that nothing of theirs is left, and records the request in ``privacy_requests``.
``export`` writes every row held about the person as JSON. Both are audited.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from models.erasure import Person, suppression_value
from models.errors import ShopstreamError
from models.settings import Settings, load_settings
from models.times import datetime_to_ms, format_time
from streams.cli.command import tenant_arg


def _refuse_shared_database(settings: Settings) -> None:
    from streams.cli.queries import owning_worker

    if settings.clickhouse_cluster:
        raise ShopstreamError("privacy requests are not supported on a ClickHouse cluster yet "
                              "(SHOPSTREAM_CLICKHOUSE_CLUSTER is set)")
    if owning_worker(settings):
        raise ShopstreamError(f"a worker owns the embedded ClickHouse in {settings.data_dir}; "
                              "stop it, run the request, then start it again")


def _person(args: argparse.Namespace, settings: Settings) -> Person:
    try:
        return Person(args.tenant or settings.default_tenant, args.user or "",
                      tuple(args.anonymous_id or ()))
    except ValueError as exc:
        raise ShopstreamError(f"{exc} (--tenant, --user)") from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):  # UTC with a Z, as every time shopstream writes
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    raise TypeError(f"not JSON: {type(value).__name__}")


def erase(settings: Settings, person: Person, requested_by: str,
          progress: Callable[[str], None]) -> dict[str, Any]:
    """The whole erasure (see the module's docstring); its summary, as audited."""
    from sinks.catalogue import Catalogue
    from sinks.database import open_database
    from sinks.privacy import AuditRecord, audit, erase_person, linked_person
    from streams.kafka.admin import ensure_topics
    from streams.kafka.discovery import require_bootstrap
    from streams.privacy.suppression import produce

    _refuse_shared_database(settings)
    bootstrap = require_bootstrap(settings)
    ensure_topics(settings, bootstrap)
    client = open_database(settings)
    requested_at, request_id = datetime.now(UTC), str(uuid.uuid4())
    key = (settings.pii_hash_key or "").encode()
    person = linked_person(client, Catalogue.read(client), person)
    topics = settings.topics
    value = suppression_value(request_id, datetime_to_ms(requested_at))
    produce(bootstrap, [*((topics.erased, digest, value) for digest in person.hashes(key)),
                        *((topics.recommendations, identity, None) for identity in person.ids)])
    progress(f"{len(person.ids)} id(s) on the suppression list {topics.erased}; their "
             f"recommendations tombstoned on {topics.recommendations}")
    erased = erase_person(client, person, progress)
    record = AuditRecord(request_id, person.tenant, "erase", requested_by, requested_at,
                         person.subject(key), len(erased.person.ids), erased.rows,
                         sorted(erased.rebuilt), datetime.now(UTC))
    audit(client, record)
    return {"request_id": request_id, "tenant": person.tenant, "subject": record.subject_hash,
            "identities": record.identities, "rows_deleted": erased.rows,
            "rollups_rebuilt": erased.rebuilt, "requested_by": requested_by,
            "requested_at": format_time(requested_at)}


def export(settings: Settings, person: Person, requested_by: str,
           progress: Callable[[str], None]) -> bytes:
    """Everything held about the person, as JSON (audited)."""
    from sinks.catalogue import Catalogue
    from sinks.database import open_database
    from sinks.privacy import AuditRecord, audit, export_person, linked_person

    _refuse_shared_database(settings)
    client = open_database(settings)
    requested_at, request_id = datetime.now(UTC), str(uuid.uuid4())
    key = (settings.pii_hash_key or "").encode()
    person = linked_person(client, Catalogue.read(client), person)
    tables = export_person(client, person, progress)
    audit(client, AuditRecord(request_id, person.tenant, "export", requested_by, requested_at,
                              person.subject(key), len(person.ids),
                              {name: len(rows) for name, rows in tables.items()}, [],
                              datetime.now(UTC)))
    return orjson.dumps({"tenant": person.tenant, "user_id": person.user_id,
                         "ids": list(person.ids), "exported_at": format_time(requested_at),
                         "request_id": request_id, "tables": tables},
                        default=_json_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
                        | orjson.OPT_PASSTHROUGH_DATETIME)


def command(args: argparse.Namespace) -> int:
    overrides = {"kafka_bootstrap": args.bootstrap} if args.bootstrap else {}
    settings = load_settings(**overrides)
    person = _person(args, settings)
    requested_by = args.requested_by or getpass.getuser()

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.action == "erase":
        summary = erase(settings, person, requested_by, progress)
        sys.stdout.buffer.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
        progress(f"erased: request {summary['request_id']}, "
                 f"{sum(summary['rows_deleted'].values())} row(s) deleted")
        return 0
    body = export(settings, person, requested_by, progress)
    if args.out and args.out != "-":
        try:
            Path(args.out).write_bytes(body + b"\n")
        except OSError as exc:
            raise ShopstreamError(f"cannot write {args.out}: {exc.strerror}") from exc
        progress(f"exported to {args.out}")
    else:
        sys.stdout.buffer.write(body + b"\n")
    return 0


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("privacy", "erase a person everywhere (GDPR), or export everything held about them")
    p.add_argument("action", choices=["erase", "export"])
    p.add_argument("--tenant", type=tenant_arg,
                   help="the person's tenant (default: $SHOPSTREAM_DEFAULT_TENANT)")
    p.add_argument("--user", required=True, help="the person's user id")
    p.add_argument("--anonymous-id", action="append", help="an anonymous id of theirs not "
                   "linked in the data (repeatable); linked ones are found on their own")
    p.add_argument("--requested-by", help="who asked (kept in the audit; default: this login)")
    p.add_argument("--out", help="export: the JSON file (default: stdout)")
    p.set_defaults(func=command)
