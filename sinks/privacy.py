"""A person's data in ClickHouse: found, exported, erased, and each request audited.

Every table that holds people (:meth:`sinks.catalogue.Catalogue.person_tables`: a person
column, or a raw payload naming them) is searched for the person's ids within the tenant.
Erasing deletes their rows with synchronous mutations (``ALTER TABLE ... DELETE`` with
``mutations_sync = 2``: the parts are rewritten, not only masked), rebuilds the rollups their
events fed (:mod:`sinks.rollup_rebuild`, as :func:`models.erasure.rollup_mode` says), then
checks that no table still has a row of theirs. The audit table (``privacy_requests``)
records who asked, when, and how many rows went from which table: never an id in clear.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from models.erasure import PAYLOAD_COLUMNS, PERSON_COLUMNS, Person, payload_needle, rollup_mode
from sinks.catalogue import Catalogue, Feed, TableInfo
from sinks.errors import ClickHouseError
from sinks.rollup_rebuild import rebuild
from sinks.writer import Target

Progress = Callable[[str], None]
AUDIT_TABLE = "privacy_requests"
LINKS = (("anonymous_id", "user_id"), ("previous_id", "user_id"))  # (linked id, user id) columns


def names_erased(target: Target, erased: Callable[[str, str], bool],
                 anyone: Callable[[], bool] = lambda: True) -> Callable[[tuple[Any, ...]], bool]:
    """Whether a row of ``target`` names an erased person: ``erased(tenant, id)`` for any of
    its person columns (the sink's check, :func:`sinks.writer.dropping`). ``anyone()``:
    whether anybody is erased at all; while nobody is, rows are not looked at (the check
    was about a tenth of the sink's time)."""
    tenant = target.columns.index("tenant")
    people = [target.columns.index(c) for c in PERSON_COLUMNS if c in target.columns]

    def names(row: tuple[Any, ...]) -> bool:
        return anyone() and any(erased(row[tenant], ident)
                                for ident in {row[i] for i in people} if ident)

    return names


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def payload_names_erased(target: Target, erased: Callable[[str, str], bool],
                         anyone: Callable[[], bool] = lambda: True
                         ) -> Callable[[tuple[Any, ...]], bool]:
    """Whether a row of ``target`` (a dead letter: its raw payload as text) names an erased
    person: any JSON string in its payload that is an erased id of its tenant, as the
    erasure finds such rows in ClickHouse (:func:`person_filter`: the id as a JSON string
    anywhere in the payload)."""
    tenant, payload = target.columns.index("tenant"), target.columns.index("payload")

    def names(row: tuple[Any, ...]) -> bool:
        if not anyone() or not isinstance(row[payload], str):
            return False
        for quoted in _JSON_STRING.findall(row[payload]):
            try:
                text = orjson.loads(quoted)
            except orjson.JSONDecodeError:
                continue
            if isinstance(text, str) and text and erased(row[tenant], text):
                return True
        return False

    return names


def person_filter(table: TableInfo, person: Person) -> tuple[str, dict[str, Any]]:
    """The WHERE clause matching the person's rows of ``table``, and its parameters."""
    ids = list(person.ids)
    params: dict[str, Any] = {"tenant": person.tenant, "ids": ids}
    matches = [f"has({{ids:Array(String)}}, `{c}`)" for c in PERSON_COLUMNS if c in table.columns]
    for column in PAYLOAD_COLUMNS:
        if column in table.columns:
            params["needles"] = [payload_needle(i) for i in ids]
            matches.append(f"multiSearchAny(`{column}`, {{needles:Array(String)}})")
    where = "(" + " OR ".join(matches) + ")"
    if "tenant" in table.columns:
        where = "tenant = {tenant:String} AND " + where
    return where, params


def linked_person(client: Client, catalogue: Catalogue, person: Person) -> Person:
    """The person with every id linked to their user id: anonymous and previous ids seen
    beside it in any table that has both (``events``, ``identities``, ``triggers``, ...)."""
    found: set[str] = set()
    for table in catalogue.person_tables():
        for linked, user in LINKS:
            if {linked, user, "tenant"} <= table.columns:
                found.update(str(row[0]) for row in client.query(
                    f"SELECT DISTINCT `{linked}` FROM `{table.name}` WHERE tenant = {{tenant:String}} "
                    f"AND `{user}` = {{user:String}} AND `{linked}` != ''",
                    parameters={"tenant": person.tenant, "user": person.user_id}).result_rows)
    return person.linked(found)


def count_rows(client: Client, table: TableInfo, person: Person) -> int:
    where, params = person_filter(table, person)
    return int(client.query(f"SELECT count() FROM `{table.name}` WHERE {where}",
                            parameters=params).result_rows[0][0])


@dataclass
class Erased:
    """What an erasure did: rows deleted per table, rollup partitions rebuilt."""

    person: Person
    rows: dict[str, int] = field(default_factory=dict)
    rebuilt: dict[str, list[str]] = field(default_factory=dict)


def _rollups(catalogue: Catalogue) -> dict[str, tuple[TableInfo, list[Feed], str]]:
    out: dict[str, tuple[TableInfo, list[Feed], str]] = {}
    for name, feeds in catalogue.feeds().items():
        target = catalogue.tables[name]
        mode = rollup_mode(target.sorting_key, target.partition_key,
                           [f.source.partition_key for f in feeds])
        out[name] = (target, feeds, mode)
    return out


def erase_person(client: Client, person: Person, progress: Progress) -> Erased:
    """Delete the person's rows everywhere, rebuild the rollups their events fed, and check
    that nothing of theirs is left (a :class:`ClickHouseError` says where, if anything is)."""
    catalogue = Catalogue.read(client)
    person = linked_person(client, catalogue, person)
    progress(f"{len(person.ids)} id(s): the user id and {len(person.ids) - 1} linked id(s)")
    rollups = _rollups(catalogue)
    rebuilt_whole = {name for name, (_t, _f, mode) in rollups.items() if mode != "delete"}
    # the months the person's raw rows were in, per source table, before they go
    months: dict[str, set[str]] = {}
    for _target, feeds, mode in rollups.values():
        for feed in feeds if mode == "months" else ():
            if feed.source.name not in months:
                where, params = person_filter(feed.source, person) if feed.source.holds_people \
                    else ("0", {})
                months[feed.source.name] = {str(row[0]) for row in client.query(
                    f"SELECT DISTINCT _partition_id FROM `{feed.source.name}` WHERE {where}",
                    parameters=params).result_rows}
    result = Erased(person)
    for table in catalogue.person_tables():
        if table.name in rebuilt_whole:
            continue  # rebuilt below from what remains
        found = count_rows(client, table, person)
        if found:
            where, params = person_filter(table, person)
            client.command(f"ALTER TABLE `{table.name}` DELETE WHERE {where}", parameters=params,
                           settings={"mutations_sync": 2})
            progress(f"{table.name}: {found} row(s) deleted")
        result.rows[table.name] = found
    for name, (target, feeds, mode) in rollups.items():
        if mode == "delete":
            continue
        partitions = None if mode == "whole" else set().union(
            *(months.get(f.source.name, set()) for f in feeds))
        if partitions == set():
            continue  # the person had no rows this rollup was made of
        result.rebuilt[name] = sorted(rebuild(client, target, feeds, partitions, progress))
    left = {t.name: n for t in Catalogue.read(client).person_tables()
            if t.name not in rebuilt_whole and (n := count_rows(client, t, person))}
    if left:
        raise ClickHouseError(f"rows of the person are still there after deleting: {left}")
    return result


def export_person(client: Client, person: Person, progress: Progress) -> dict[str, list[dict[str, Any]]]:
    """Every row held about the person, per table (tables with none left out)."""
    catalogue = Catalogue.read(client)
    person = linked_person(client, catalogue, person)
    out: dict[str, list[dict[str, Any]]] = {}
    for table in catalogue.person_tables():
        where, params = person_filter(table, person)
        result = client.query(f"SELECT * FROM `{table.name}` WHERE {where}", parameters=params)
        rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
        if rows:
            out[table.name] = rows
            progress(f"{table.name}: {len(rows)} row(s)")
    return out


@dataclass(frozen=True)
class AuditRecord:
    request_id: str
    tenant: str
    action: str
    requested_by: str
    requested_at: datetime
    subject_hash: str
    identities: int
    rows: dict[str, int]
    rollups_rebuilt: list[str]
    completed_at: datetime


def audit(client: Client, record: AuditRecord) -> None:
    """One row in ``privacy_requests`` (no person column: it outlives every erasure)."""
    client.insert(AUDIT_TABLE, [[record.request_id, record.tenant, record.action,
                                 record.requested_by, record.requested_at, record.subject_hash,
                                 record.identities, record.rows, record.rollups_rebuilt,
                                 record.completed_at]],
                  column_names=["request_id", "tenant", "action", "requested_by", "requested_at",
                                "subject_hash", "identities", "rows", "rollups_rebuilt",
                                "completed_at"])
