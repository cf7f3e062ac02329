"""``shopstream recommender train|evaluate|list|activate|ab-start|ab-stop|ab-report``.

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
CANDIDATE_COLUMNS = ("precision@10", "recall@10", "map@10", "ndcg@10", "hit_rate@10",
                     "coverage", "novelty")
SLICE_METRICS = ("precision@10", "ndcg@10", "hit_rate@10", "novelty")


class Backend(Protocol):
    def train(self, tenant: str | None, choice: SplitChoice, progress: Progress) -> dict[str, Any]: ...

    def evaluate(self, tenant: str | None, choice: SplitChoice,
                 progress: Progress) -> dict[str, Any]: ...

    def models(self, tenant: str | None) -> list[dict[str, Any]]: ...

    def activate(self, tenant: str | None, version: int, progress: Progress) -> dict[str, Any]: ...

    def ab_start(self, tenant: str | None, version: int, progress: Progress) -> dict[str, Any]: ...

    def ab_stop(self, tenant: str | None, progress: Progress) -> dict[str, Any]: ...

    def ab_report(self, tenant: str | None, progress: Progress) -> dict[str, Any]: ...


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

    def ab_start(self, tenant: str | None, version: int, progress: Progress) -> dict[str, Any]:
        return self._job("POST", f"/recommender/ab/start/{version}", {"tenant": tenant}, progress)

    def ab_stop(self, tenant: str | None, progress: Progress) -> dict[str, Any]:
        return self._job("POST", "/recommender/ab/stop", {"tenant": tenant}, progress)

    def ab_report(self, tenant: str | None, progress: Progress) -> dict[str, Any]:
        return self._job("GET", "/recommender/ab/report", {"tenant": tenant}, progress)


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
    """One row per metric: the selected model, then each baseline."""
    baselines = evaluation["baselines"]
    columns = ["metric", "model", *baselines]
    rows = [[name, round(evaluation["model"].get(name, 0.0), 4),
             *(round(b.get(name, 0.0), 4) for b in baselines.values())] for name in METRICS]
    return Table(columns, rows)


def slices_table(evaluation: dict[str, Any]) -> Table:
    """One row per slice: its users, and the model against popularity on a few metrics."""
    columns = ["slice", "users"] + [f"{m} {who}" for m in SLICE_METRICS
                                    for who in ("model", "popularity")]
    rows = [[name, body["users"], *(round(body[who].get(m, 0.0), 4) for m in SLICE_METRICS
                                    for who in ("model", "popularity"))]
            for name, body in evaluation.get("slices", {}).items()]
    return Table(columns, rows)


def candidates_table(candidates: list[dict[str, Any]]) -> Table:
    columns = ["candidate", "status", "seconds", *CANDIDATE_COLUMNS]
    rows = [[c["name"], c["status"], c["seconds"], *(c.get(m) for m in CANDIDATE_COLUMNS)]
            for c in candidates]
    return Table(columns, rows)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _print_evaluation(evaluation: dict[str, Any], fmt: str) -> None:
    write_table(metrics_table(evaluation), fmt)
    if evaluation.get("slices"):
        write_table(slices_table(evaluation), fmt)
    if fmt == "table":
        selected, repeat = evaluation.get("selected") or {}, evaluation.get("repeat") or {}
        if selected:
            print(f"selected: {selected['name']}, cold start: {selected['cold_start']} "
                  f"({selected['reason']})")
        if repeat:
            print(f"repeat purchases: {repeat['reason']}")
        print(f"users {evaluation['n_users']:,}, products {evaluation['n_items']:,}, "
              f"test users {evaluation['n_test_users']:,}; {evaluation['split']}")


def _list(records: list[dict[str, Any]], version: int | None, fmt: str) -> None:
    if fmt == "json":
        print(dumps(records).decode())
        return
    detail = ("selected", "repeat", "ab", "selection_split", "candidates")
    columns = [c for c in (records[0] if records else {"version": 0, "status": ""})
               if c not in detail]
    write_table(Table(columns, [[r.get(c) for c in columns] for r in records]), fmt)
    shown = [r for r in records if version is None or r["version"] == version][-1:]
    if version is not None and not shown:
        raise ShopstreamError(f"no model version {version}; see `shopstream recommender list`")
    for record in shown:
        if record.get("candidates"):
            if fmt == "table":
                print(f"\ncandidates of v{record['version']} on {record['selection_split']}:")
            write_table(candidates_table(record["candidates"]), fmt)
        if fmt == "table" and record.get("selected"):
            print(f"winner: {record['selected']['name']}: {record['selected']['reason']}")


def _print_report(result: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(dumps(result).decode())
        return
    rows = []
    for variant, body in result["variants"].items():
        row: list[Any] = [variant, body["shoppers"]]
        for outcome in ("clicked", "purchased"):
            low, high = body[outcome]["ci95"]
            row += [body[outcome]["count"], round(body[outcome]["rate"], 4),
                    f"{low:.4f}..{high:.4f}"]
        rows.append(row)
    write_table(Table(["variant", "shoppers", "clicked", "click rate", "95% CI", "purchased",
                       "purchase rate", "95% CI"], rows), fmt)
    for outcome, lift in result["candidate_vs_control"].items():
        if lift and lift["lift"] is not None:
            low, high = lift["ci95"]
            span = f"{low:+.1%}..{high:+.1%}" if low is not None else "undefined"
            print(f"{outcome}: candidate vs control {lift['lift']:+.1%} (95% CI {span}, "
                  f"p {lift['p_value']:.3f})")


def run(settings: Settings, action: str, *, tenant: str | None, holdout: str,
        leave_last: int | None, version: int | None, fmt: str) -> int:
    backend = backend_for(settings)
    choice = SplitChoice(holdout, leave_last)
    if action == "evaluate":
        evaluation = backend.evaluate(tenant, choice, _stderr)
        if fmt == "json":
            print(dumps(evaluation).decode())
        else:
            _print_evaluation(evaluation, fmt)
        return 0
    if action == "train":
        result = backend.train(tenant, choice, _stderr)
        if fmt == "json":
            print(dumps(result).decode())
        else:
            _print_evaluation(result["evaluation"], fmt)
            print(f"model v{result['version']}: {result['status']} ({result['reason']})")
        return 0
    if action == "list":
        _list(backend.models(tenant), version, fmt)
        return 0
    if action in ("activate", "ab-start") and version is None:
        raise ShopstreamError(f"{action} needs a VERSION (see `shopstream recommender list`)")
    if action == "activate":
        assert version is not None
        record = backend.activate(tenant, version, _stderr)
        print(f"model v{record['version']} is active")
        return 0
    if action == "ab-start":
        assert version is not None
        record = backend.ab_start(tenant, version, _stderr)
        print(f"model v{record['version']} is being tested")
        return 0
    if action == "ab-stop":
        record = backend.ab_stop(tenant, _stderr)
        print(f"A/B test of v{record['version']} stopped")
        return 0
    if action == "ab-report":
        _print_report(backend.ab_report(tenant, _stderr), fmt)
        return 0
    raise ShopstreamError(f"unknown action {action!r}")
