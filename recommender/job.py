"""The recommender jobs: ``train`` (select a model, evaluate it, fit it on everything,
register, gate, publish) and ``evaluate`` (the same figures, nothing saved). Both read
ClickHouse through a client they are given."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client

from models.errors import ShopstreamError
from models.settings import Settings
from models.times import ms_to_datetime
from recommender.als import AlsParams
from recommender.candidates import Candidate, TrainingData, fit, grid, parse_families
from recommender.evaluation import evaluate
from recommender.gate import decide
from recommender.interactions import Interactions, load_interactions
from recommender.matrix import Weights
from recommender.model import TrainedModel
from recommender.publish import Send, active_users, publish, top_n_rows
from recommender.registry import ModelRecord, Registry
from recommender.repeat import RepeatDecision, mode_for
from recommender.repeat import decide as decide_repeat
from recommender.selection import Search, Selection
from recommender.splits import SplitPlan

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SplitChoice:
    holdout: str = "auto"          # a duration (7d, 12h) or auto
    leave_last: int | None = None  # leave-last-k per user instead of a time split


def read(client: Client, settings: Settings, tenant: str, progress: Progress) -> Interactions:
    inter = load_interactions(client, tenant, settings.reco_days)
    if len(inter) == 0:
        raise ShopstreamError(f"no interactions for tenant {tenant!r} in ClickHouse yet "
                              "(product views, adds to cart, orders)")
    counts = ", ".join(f"{n:,} {kind}s" for kind, n in inter.counts().items())
    progress(f"read {len(inter):,} interactions ({counts}) of {inter.n_users:,} users and "
             f"{inter.n_items:,} products, {ms_to_datetime(inter.start_ms):%Y-%m-%d %H:%M} .. "
             f"{ms_to_datetime(inter.end_ms):%Y-%m-%d %H:%M} UTC")
    return inter


def search_for(settings: Settings, repeat: bool, span_ms: int) -> Search:
    """The configured search: the candidate grid, the gate metric, the time budget."""
    try:
        allowed = parse_families(settings.reco_candidates)
    except ValueError as exc:
        raise ShopstreamError(str(exc)) from exc
    als = AlsParams.from_settings(settings)
    configured = Candidate("als", {"factors": als.factors, "regularization": als.regularization,
                                   "alpha": als.alpha, "iterations": als.iterations})
    return Search(grid(als, allowed, repeat, span_ms), settings.reco_gate_metric,
                  settings.reco_search_seconds, seed=settings.reco_seed,
                  fallback=configured if allowed is None or "als" in allowed
                  else Candidate("popularity"))


def repeat_for(settings: Settings, tenant: str, inter: Interactions,
               progress: Progress) -> RepeatDecision:
    try:
        mode = mode_for(settings.reco_repeat, tenant)
    except ValueError as exc:
        raise ShopstreamError(str(exc)) from exc
    decision = decide_repeat(mode, inter)
    progress(f"repeat purchases: {decision.reason}")
    return decision


def assess(inter: Interactions, settings: Settings, tenant: str, choice: SplitChoice,
           progress: Progress) -> tuple[dict[str, Any], Selection, RepeatDecision]:
    """Repeat decision, selection on the training side, evaluation on the held-out side."""
    repeat = repeat_for(settings, tenant, inter, progress)
    plan = SplitPlan(choice.holdout, choice.leave_last)
    split = plan.test(inter, repeat.applied)
    validation = plan.validation(split.train, repeat.applied) if len(split.train) else None
    search = search_for(settings, repeat.applied, inter.end_ms - inter.start_ms)
    evaluation, selection = evaluate(split, validation, Weights.from_settings(settings), search,
                                     repeat, inter.n_users, inter.n_items, progress)
    return evaluation, selection, repeat


def evaluate_job(client: Client, settings: Settings, tenant: str, choice: SplitChoice,
                 progress: Progress) -> dict[str, object]:
    inter = read(client, settings, tenant, progress)
    return assess(inter, settings, tenant, choice, progress)[0]


def fit_model(inter: Interactions, weights: Weights, selection: Selection, repeat: bool,
              progress: Progress, seed: int = 7) -> TrainedModel:
    """The selected model and its cold start, fitted on all of ``inter``."""
    data = TrainingData.of(inter, weights, inter.end_ms)
    scorer = fit(selection.winner, data, progress, seed)
    content = fit(Candidate("content"), data)
    cold = ("winner" if selection.cold_start == selection.winner
            else selection.cold_start.family)
    return TrainedModel.build(scorer, data, content, cold, repeat)  # type: ignore[arg-type]


def train_job(client: Client, settings: Settings, tenant: str, choice: SplitChoice,
              progress: Progress, send: Send | None = None,
              now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dict[str, object]:
    """Select, train, register and gate a model; publish recommendations when it becomes
    active."""
    started = time.perf_counter()
    weights = Weights.from_settings(settings)
    inter = read(client, settings, tenant, progress)
    evaluation, selection, repeat = assess(inter, settings, tenant, choice, progress)
    progress(f"fitting {selection.winner.name} on all the data")
    model = fit_model(inter, weights, selection, repeat.applied, progress, settings.reco_seed)
    registry = Registry(client, settings.model_registry, tenant)
    record = registry.save(model, ModelRecord(
        tenant=tenant, version=registry.next_version(), trained_at=now(),
        data_start=ms_to_datetime(inter.start_ms), data_end=ms_to_datetime(inter.end_ms),
        params={**selection.winner.as_dict(), "cold_start": selection.cold_start.name,
                "repeat": repeat.applied, "weights": weights.as_dict(),
                "days": settings.reco_days, "gate_metric": settings.reco_gate_metric,
                "tolerance": settings.reco_gate_tolerance},
        metrics=dict(evaluation), status="candidate", note="", path=""))
    progress(f"saved model v{record.version} in {record.path}")
    active = registry.active()
    decision = decide(evaluation["model"], evaluation["baselines"]["popularity"],
                      active.metrics.get("model") if active else None,
                      settings.reco_gate_metric, settings.reco_gate_tolerance)
    published = 0
    if decision.promote:
        record = registry.activate(record.version, note=decision.reason)
        progress(f"v{record.version} is now active: {decision.reason}")
        published = publish_active(client, settings, tenant, record.version, model, inter, send,
                                   now(), progress)
    else:
        record = registry.set_status(record, "rejected", decision.reason)
        kept = f"v{active.version} stays active" if active else "no model is active"
        progress(f"v{record.version} rejected: {decision.reason}; {kept}")
    return {"version": record.version, "status": record.status, "reason": decision.reason,
            "published": published, "seconds": round(time.perf_counter() - started, 2),
            "evaluation": evaluation}


def publish_active(client: Client, settings: Settings, tenant: str, version: int,
                   model: TrainedModel, inter: Interactions, send: Send | None,
                   generated_at: datetime, progress: Progress) -> int:
    users = active_users(inter, settings.reco_publish_active_days)
    # the model's codes, by id: ``inter`` may have been read after the model was trained
    codes = [model.user_code(str(inter.user_ids[u])) for u in users.tolist()]
    known = [c for c in codes if c is not None]
    rows = top_n_rows(model, np.asarray(known, dtype=np.int64), settings.reco_publish_n)
    count = publish(client, send, tenant, version, generated_at, rows)
    where = "ClickHouse `recommendations`" + (
        f" and Kafka {settings.topics.recommendations}" if send else " (no Kafka broker configured)")
    progress(f"published top-{settings.reco_publish_n} for {count:,} recently active users to {where}")
    return count
