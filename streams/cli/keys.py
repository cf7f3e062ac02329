"""``shopstream keys create|list|revoke``: API keys on the compacted keys topic. Every
collector and worker follows the topic, so a change counts everywhere within seconds."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from models.errors import ShopstreamError
from models.keys import ApiKey, Role, new_key
from models.settings import Settings, load_settings
from models.times import format_time
from sinks.reports import Table
from streams.cli.command import positive_number, tenant_arg
from streams.kafka.admin import topics_for_producing
from streams.kafka.discovery import require_bootstrap

COLUMNS = ["key_id", "tenant", "role", "origins", "rate", "created_at", "status", "note"]


def create_key(settings: Settings, bootstrap: str, tenant: str, role: Role,
               origins: tuple[str, ...] = (), rate: float | None = None,
               note: str = "") -> tuple[str, ApiKey]:
    """Make a key and store its record; the key itself is returned once, never stored."""
    from streams.collector.keystore import write_record

    if rate is not None and not math.isfinite(rate):  # (NaN passes a "> 0" check)
        raise ShopstreamError(f"rate must be a finite number > 0 events per second, got {rate}")
    topics_for_producing(settings, bootstrap)
    key, record = new_key(tenant, role, format_time(datetime.now(UTC)), origins, rate, note)
    write_record(bootstrap, settings.topics.keys, record)
    return key, record


def _table(records: list[ApiKey]) -> Table:
    return Table(COLUMNS, [[r.key_id, r.tenant, str(r.role), list(r.origins),
                            r.rate, r.created_at, "revoked" if r.revoked else "active", r.note]
                           for r in records])


def command(args: argparse.Namespace) -> int:
    from streams.cli.output import write_table
    from streams.collector.keystore import read_records, write_record

    overrides = {"kafka_bootstrap": args.bootstrap} if args.bootstrap else {}
    settings = load_settings(**overrides)
    bootstrap = require_bootstrap(settings)
    if args.action == "create":
        if not args.tenant or not args.role:
            raise ShopstreamError("keys create needs --tenant and --role")
        key, record = create_key(settings, bootstrap, args.tenant, Role(args.role),
                                 tuple(args.origin or ()), args.rate, args.note or "")
        print(key)
        print(f"created {record.role} key {record.key_id} for tenant {record.tenant}; the key "
              "is shown only now (only its hash is stored)", file=sys.stderr)
        return 0
    topics_for_producing(settings, bootstrap)
    records = read_records(bootstrap, settings.topics.keys)
    if args.action == "list":
        shown = [r for r in records.values() if not args.tenant or r.tenant == args.tenant]
        write_table(_table(sorted(shown, key=lambda r: (r.tenant, r.created_at))), args.format)
        return 0
    if not args.key_id:
        raise ShopstreamError("keys revoke needs the key id (see `shopstream keys list`)")
    key_id = args.key_id.removeprefix("ssk_").split("_")[0]
    if key_id not in records:
        raise ShopstreamError(f"no key {key_id!r}; `shopstream keys list` shows them")
    write_record(bootstrap, settings.topics.keys, records[key_id].revoke())
    print(f"revoked key {key_id} (tenant {records[key_id].tenant}); collectors and workers "
          "refuse it within seconds", file=sys.stderr)
    return 0


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = add("keys", "create, list or revoke API keys (write: send events; read: query a "
            "tenant's data; admin: read, train and activate models)")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("key_id", nargs="?", help="revoke: the key id (or the whole key)")
    p.add_argument("--tenant", type=tenant_arg, help="create: the key's tenant; list: only this tenant's")
    p.add_argument("--role", choices=[r.value for r in Role], help="create: what the key may do")
    p.add_argument("--origin", action="append", help="create, write keys: a browser origin "
                   "allowed to send with it (https://shop.example.com, or '*'); repeatable")
    p.add_argument("--rate", type=positive_number, help="create, write keys: events per second "
                   "per collector, > 0 (default: $SHOPSTREAM_COLLECTOR_DEFAULT_RATE)")
    p.add_argument("--note", help="create: a note shown by list")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=command)
