"""The model registry: artefacts in a folder per version, and the ClickHouse ``models`` table.

The table is the record of truth for which version is active; a status change
is a new row (ReplacingMergeTree on ``updated_at``), so the history of a version
is kept until merges fold it. Statuses: ``candidate`` (just trained), ``active``
(served), ``rejected`` (failed the gate), ``retired`` (was active, replaced), ``testing``
(served to a share of shoppers in an A/B test against the active model, see
``recommender.experiment``).

Versions never reuse a folder already on disk (one left by another database in the same
data directory, or by a crashed run): the next version is past both the table's highest and
the highest folder. A folder whose ``meta.json`` names another training than the table's
row is refused with a clear error rather than served.
"""

from __future__ import annotations

import json
import re
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
        selected = self.metrics.get("selected", {})
        return {
            "version": self.version, "status": self.status,
            "trained_at": format_time(self.trained_at),
            "data_start": format_time(self.data_start), "data_end": format_time(self.data_end),
            "model": selected.get("name") or self.params.get("family", "als"),
            **{name: round(float(value), 4) for name, value in model.items()},
            "note": self.note,
        }


    def detail(self) -> dict[str, Any]:
        """The summary, plus the selection: which candidate won, why, and every candidate's
        validation figures; the repeat-purchase decision; an A/B test's settings."""
        selection = self.metrics.get("selection", {})
        return {**self.summary(), "selected": self.metrics.get("selected"),
                "repeat": self.metrics.get("repeat"), "ab": self.params.get("ab"),
                "selection_split": selection.get("split"),
                "candidates": selection.get("candidates", [])}


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
        """Past the highest version in the table (any tenant) and past every version folder
        already on disk for this tenant, whichever database left it."""
        value = self.client.query("SELECT max(version) FROM models").result_rows[0][0]
        return max(int(value or 0), self._highest_on_disk()) + 1

    def _highest_on_disk(self) -> int:
        folder = self.root / self.tenant
        if not folder.is_dir():
            return 0
        found = [int(m.group(1)) for p in folder.iterdir()
                 if (m := re.fullmatch(r"v(\d+)(\.partial)?", p.name))]
        return max(found, default=0)

    def folder(self, version: int) -> Path:
        return self.root / self.tenant / f"v{version}"

    def save(self, model: TrainedModel, record: ModelRecord) -> ModelRecord:
        folder = self.folder(record.version)
        if folder.exists():
            raise ShopstreamError(
                f"model folder {folder} already exists: another run or another database wrote "
                "this version; train again (the next version skips it)")
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
        if not (folder / "index.npz").is_file():
            raise ShopstreamError(f"model version {record.version}: artefacts missing in {folder}")
        self._check_meta(record, folder)
        return TrainedModel.load(folder)

    def _check_meta(self, record: ModelRecord, folder: Path) -> None:
        """The folder must hold the training the table's row describes."""
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            return  # older folders carry no meta.json of their own
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise ShopstreamError(f"model version {record.version}: unreadable {meta_path}: "
                                  f"{exc}") from exc
        expected = {"version": record.version, "trained_at": format_time(record.trained_at)}
        found = {key: meta.get(key) for key in expected}
        if found != expected:
            raise ShopstreamError(
                f"model version {record.version} of tenant {self.tenant!r}: the database says "
                f"trained at {expected['trained_at']}, but {meta_path} holds version "
                f"{found['version']} trained at {found['trained_at']}: the model directory "
                f"({self.root}) and the database ({getattr(self.client, 'database', '?')}) do not "
                "belong together; "
                "point SHOPSTREAM_DATA_DIR and CLICKHOUSE_URL at one installation, or train again")

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

    # -- A/B tests ------------------------------------------------------------------------
    def testing(self) -> ModelRecord | None:
        """The version under an A/B test now, if any."""
        found = [r for r in self.records() if r.status == "testing"]
        return found[-1] if found else None

    def latest_test(self) -> ModelRecord | None:
        """The version of the most recent A/B test, running or stopped."""
        tested = [r for r in self.records() if "ab" in r.params]
        return max(tested, key=lambda r: r.params["ab"]["started_at"]) if tested else None

    def start_test(self, version: int, share: float, started_at: datetime) -> ModelRecord:
        """Serve ``version`` to ``share`` of the shoppers, the active model (or popularity
        when none is active) to the rest."""
        record = self.get(version)
        if record.status == "active":
            raise ShopstreamError(f"v{version} is the active model: test another version against it")
        if record.status == "testing":
            raise ShopstreamError(f"v{version} is already being tested")
        self.load(record)  # refuse a version whose artefacts are gone
        running = self.testing()
        if running is not None:
            raise ShopstreamError(f"v{running.version} is being tested; stop that test first "
                                  "(`shopstream recommender ab-stop`)")
        active = self.active()
        ab = {"share": share, "started_at": format_time(started_at), "stopped_at": None,
              "control": active.version if active else None, "was": record.status}
        return self._replace(record, "testing", {**record.params, "ab": ab},
                             f"A/B test: {share:.0%} of shoppers since {format_time(started_at)}")

    def stop_test(self, stopped_at: datetime) -> ModelRecord:
        record = self.testing()
        if record is None:
            raise ShopstreamError(f"no A/B test is running for tenant {self.tenant!r}")
        ab = {**record.params["ab"], "stopped_at": format_time(stopped_at)}
        return self._replace(record, ab["was"], {**record.params, "ab": ab},
                             f"A/B test stopped at {format_time(stopped_at)}")

    def _replace(self, record: ModelRecord, status: str, params: dict[str, Any],
                 note: str) -> ModelRecord:
        changed = ModelRecord(**{**record.__dict__, "status": status, "params": params,
                                 "note": note})
        self._write(changed)
        return changed

    def _write(self, record: ModelRecord) -> None:
        self.client.insert("models", [record.row(datetime.now(UTC))], column_names=COLUMNS)
