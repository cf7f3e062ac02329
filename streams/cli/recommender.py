"""``shopstream recommender train|evaluate|list|activate``.

With embedded ClickHouse and a worker running on the data directory, the
worker owns the database, so the command asks the worker to run the job (its
progress comes back when the job ends, and is in the worker's log as it goes).
Otherwise the job runs here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Protocol

from models.errors import ShopstreamError
from models.serde import dumps
from models.settings import Settings
from recommender.job import SplitChoice
from recommender.ranking import METRICS
from sinks.reports import Table
from streams.cli.output import write_table
from streams.cli.queries import owning_worker, worker_request

Progress = Callable[[str], None]


class Backend(Protocol):
    def train(self, tenant: str | None, choice: SplitChoice, progress: Progress) -> dict[str, Any]: ...

    def evaluate(self, tenant: str | None, choice: SplitChoice,
                 progress: Progress) -> dict[str, Any]: ...

    def models(self, tenant: str | None) -> list[dict[str, Any]]: ...

    def activate(self, tenant: str | None, version: int, progress: Progress) -> dict[str, Any]: ...


class WorkerBackend:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def _call(self, method: str, path: str, params: dict[str, Any]) -> Any:
        return worker_request(self.base_url, method, path, params, timeout=3600)

    def _job(self, method: str, path: str, params: dict[str, Any], progress: Progress) -> Any:
        progress(f"running on the worker at {self.base_url} (its log shows progress as it goes)")
        body = self._call(method, path, params)
        for line in body["log"]:
            progress(line)
        return body["result"]

    def train(self, tenant: str | None, choice: SplitChoice, progress: Progress) -> dict[str, Any]:
        return self._job("POST", "/recommender/train", _choice_params(tenant, choice), progress)

    def evaluate(self, tenant: str | None, choice: SplitChoice, progress: Progress) -> dict[str, Any]:
        return self._job("GET", "/recommender/evaluate", _choice_params(tenant, choice), progress)

    def models(self, tenant: str | None) -> list[dict[str, Any]]:
        return self._call("GET", "/recommender/models", {"tenant": tenant})

    def activate(self, tenant: str | None, version: int, progress: Progress) -> dict[str, Any]:
        return self._job("POST", f"/recommender/activate/{version}", {"tenant": tenant}, progress)


def _choice_params(tenant: str | None, choice: SplitChoice) -> dict[str, Any]:
    return {"tenant": tenant, "holdout": choice.holdout, "leave_last": choice.leave_last}


def backend_for(settings: Settings) -> Backend:
    web = owning_worker(settings)
    if web is not None:
        return WorkerBackend(web)
    from recommender.runner import JobRunner
    from sinks.database import open_database
    from streams.kafka.discovery import configured_bootstrap
    from streams.sdk.sender import recommendation_sender

    client = open_database(settings)
    return JobRunner(lambda: client, settings, recommendation_sender(
        configured_bootstrap(settings), settings.topics.recommendations))


def metrics_table(evaluation: dict[str, Any]) -> Table:
    """One row per metric: the model, then each baseline."""
    baselines = evaluation["baselines"]
    columns = ["metric", "als", *baselines]
    rows = [[name, round(evaluation["model"][name], 4),
             *(round(b[name], 4) for b in baselines.values())] for name in METRICS]
    return Table(columns, rows)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(settings: Settings, action: str, *, tenant: str | None, holdout: str,
        leave_last: int | None, version: int | None, fmt: str) -> int:
    backend = backend_for(settings)
    choice = SplitChoice(holdout, leave_last)
    if action == "evaluate":
        evaluation = backend.evaluate(tenant, choice, _stderr)
        if fmt == "json":
            print(dumps(evaluation).decode())
        else:
            write_table(metrics_table(evaluation), fmt)
            print(f"users {evaluation['n_users']:,}, products {evaluation['n_items']:,}, "
                  f"test users {evaluation['n_test_users']:,}; {evaluation['split']}")
        return 0
    if action == "train":
        result = backend.train(tenant, choice, _stderr)
        if fmt == "json":
            print(dumps(result).decode())
        else:
            write_table(metrics_table(result["evaluation"]), fmt)
            print(f"model v{result['version']}: {result['status']} ({result['reason']})")
        return 0
    if action == "list":
        records = backend.models(tenant)
        if fmt == "json":
            print(dumps(records).decode())
            return 0
        columns = list(records[0]) if records else ["version", "status"]
        write_table(Table(columns, [[r.get(c) for c in columns] for r in records]), fmt)
        return 0
    if action == "activate":
        if version is None:
            raise ShopstreamError("activate needs a VERSION (see `shopstream recommender list`)")
        record = backend.activate(tenant, version, _stderr)
        print(f"model v{record['version']} is active")
        return 0
    raise ShopstreamError(f"unknown action {action!r}")
