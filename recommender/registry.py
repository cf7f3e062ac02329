"""The model registry: artefacts in a folder per version, and the ClickHouse ``models`` table.

The table is the record of truth for which version is active; a status change
is a new row (ReplacingMergeTree on ``updated_at``), so the history of a version
is kept until merges fold it. Statuses: ``candidate`` (just trained), ``active``
(served), ``rejected`` (failed the gate), ``retired`` (was active, replaced).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from models.errors import ShopstreamError
from models.times import as_utc, format_time
from recommender.model import TrainedModel

COLUMNS = ["tenant", "version", "trained_at", "data_start", "data_end", "params", "metrics",
           "status", "note", "path", "updated_at"]


@dataclass(frozen=True)
class ModelRecord:
    tenant: str
    version: int
    trained_at: datetime
    data_start: datetime
    data_end: datetime
    params: dict[str, Any]
    metrics: dict[str, Any]
    status: str
    note: str
    path: str

    def row(self, updated_at: datetime) -> list[Any]:
        return [self.tenant, self.version, self.trained_at, self.data_start, self.data_end,
                json.dumps(self.params, sort_keys=True), json.dumps(self.metrics, sort_keys=True),
                self.status, self.note, self.path, updated_at]

    def summary(self) -> dict[str, Any]:
        model = self.metrics.get("model", {})
        return {
            "version": self.version, "status": self.status,
            "trained_at": format_time(self.trained_at),
            "data_start": format_time(self.data_start), "data_end": format_time(self.data_end),
            **{name: round(float(value), 4) for name, value in model.items()},
            "note": self.note,
        }


class Registry:
    def __init__(self, client: Client, root: Path, tenant: str) -> None:
        self.client, self.root, self.tenant = client, root, tenant

    def records(self) -> list[ModelRecord]:
        rows = self.client.query(
            f"SELECT {', '.join(COLUMNS[:-1])} FROM models FINAL "
            "WHERE tenant = {tenant:String} ORDER BY version",
            parameters={"tenant": self.tenant}).result_rows
        return [ModelRecord(r[0], int(r[1]), as_utc(r[2]), as_utc(r[3]), as_utc(r[4]), json.loads(r[5]),
                            json.loads(r[6]), r[7], r[8], r[9]) for r in rows]

    def get(self, version: int) -> ModelRecord:
        for record in self.records():
            if record.version == version:
                return record
        raise ShopstreamError(f"no model version {version} for tenant {self.tenant!r}; "
                              "see `shopstream recommender list`")

    def active(self) -> ModelRecord | None:
        active = [r for r in self.records() if r.status == "active"]
        return active[-1] if active else None

    def next_version(self) -> int:
        value = self.client.query("SELECT max(version) FROM models").result_rows[0][0]
        return int(value or 0) + 1

    def folder(self, version: int) -> Path:
        return self.root / self.tenant / f"v{version}"

    def save(self, model: TrainedModel, record: ModelRecord) -> ModelRecord:
        folder = self.folder(record.version)
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        model.save(partial)
        (partial / "meta.json").write_text(json.dumps(
            {**record.summary(), "params": record.params, "metrics": record.metrics}, indent=2))
        partial.rename(folder)  # the folder appears whole or not at all
        saved = ModelRecord(**{**record.__dict__, "path": str(folder.resolve())})
        self._write(saved)
        return saved

    def load(self, record: ModelRecord) -> TrainedModel:
        folder = Path(record.path)
        if not (folder / "als.npz").is_file():
            raise ShopstreamError(f"model version {record.version}: artefacts missing in {folder}")
        return TrainedModel.load(folder)

    def set_status(self, record: ModelRecord, status: str, note: str | None = None) -> ModelRecord:
        changed = ModelRecord(**{**record.__dict__, "status": status,
                                 "note": record.note if note is None else note})
        self._write(changed)
        return changed

    def activate(self, version: int, note: str = "activated by hand") -> ModelRecord:
        """Make ``version`` the active model (the one active before is retired)."""
        record = self.get(version)
        self.load(record)  # refuse a version whose artefacts are gone
        current = self.active()
        if current is not None and current.version != version:
            self.set_status(current, "retired", f"replaced by v{version}")
        return self.set_status(record, "active", note)

    def _write(self, record: ModelRecord) -> None:
        self.client.insert("models", [record.row(datetime.now(UTC))], column_names=COLUMNS)
