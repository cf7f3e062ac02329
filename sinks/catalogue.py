"""What the database holds, read from ``system.tables`` and ``system.columns`` at the time of
asking (never a list written down that goes stale when a migration adds a table): its
tables with their columns and keys, and the materialized views that feed its rollups."""

from __future__ import annotations

import re
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from models.erasure import holds_people

_TABLES = """
SELECT t.name, t.engine, t.partition_key, t.sorting_key, t.dependencies_table, t.as_select,
       t.create_table_query, groupArray(c.name)
FROM system.tables AS t
LEFT JOIN system.columns AS c ON c.database = t.database AND c.table = t.name
WHERE t.database = currentDatabase() AND NOT t.is_temporary
GROUP BY t.name, t.engine, t.partition_key, t.sorting_key, t.dependencies_table, t.as_select,
         t.create_table_query
"""


@dataclass(frozen=True)
class TableInfo:
    name: str
    engine: str
    columns: frozenset[str]
    partition_key: str = ""
    sorting_key: str = ""
    dependents: tuple[str, ...] = ()  # the materialized views reading this table's inserts
    as_select: str = ""  # a view's SELECT
    create_query: str = ""

    @property
    def stores_rows(self) -> bool:
        return self.engine.endswith("MergeTree")

    @property
    def holds_people(self) -> bool:
        return self.stores_rows and holds_people(set(self.columns))

    @property
    def target(self) -> str | None:
        """A materialized view's target table (``... TO db.table``)."""
        if self.engine != "MaterializedView":
            return None
        found = re.search(r"\sTO\s+(?:`[^`]+`|[\w$]+)\.(`[^`]+`|[\w$]+)", self.create_query)
        return found.group(1).strip("`") if found else None


@dataclass(frozen=True)
class Feed:
    """A materialized view feeding a rollup from a source table."""

    view: TableInfo
    source: TableInfo


class Catalogue:
    """The current database's tables, by name."""

    def __init__(self, tables: dict[str, TableInfo]) -> None:
        self.tables = tables

    @classmethod
    def read(cls, client: Client) -> Catalogue:
        tables = {}
        for name, engine, pkey, skey, deps, select, create, columns in client.query(_TABLES).result_rows:
            tables[str(name)] = TableInfo(str(name), str(engine), frozenset(c for c in columns if c),
                                          str(pkey), str(skey), tuple(deps), str(select), str(create))
        return cls(tables)

    def person_tables(self) -> list[TableInfo]:
        return [t for _, t in sorted(self.tables.items()) if t.holds_people]

    def feeds(self) -> dict[str, list[Feed]]:
        """Each rollup (a materialized view's target) and the views that feed it."""
        out: dict[str, list[Feed]] = {}
        for source in self.tables.values():
            for view_name in source.dependents:
                view = self.tables.get(view_name)
                target = view.target if view is not None else None
                if view is not None and target in self.tables:
                    out.setdefault(target, []).append(Feed(view, source))
        return {target: sorted(feeds, key=lambda f: f.view.name)
                for target, feeds in sorted(out.items())}
