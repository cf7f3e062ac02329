"""The recommender jobs: ``train`` (evaluate, fit on everything, register, gate, publish)
and ``evaluate`` (metrics only). Both read ClickHouse through a client they are given."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from models.errors import ShopstreamError
from models.settings import Settings
from models.times import ms_to_datetime
from recommender.als import AlsParams, train_als
from recommender.evaluation import Split, evaluate, leave_last_split, resolve_holdout, time_split
from recommender.gate import decide
from recommender.interactions import Interactions, load_interactions
from recommender.matrix import Weights, purchased_matrix, user_item_matrix
from recommender.model import TrainedModel
from recommender.publish import Send, active_users, publish, top_n_rows
from recommender.registry import ModelRecord, Registry

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


def make_split(inter: Interactions, choice: SplitChoice) -> Split:
    if choice.leave_last is not None:
        if choice.leave_last < 1:
            raise ShopstreamError("--leave-last must be at least 1")
        return leave_last_split(inter, choice.leave_last)
    try:
        holdout = resolve_holdout(choice.holdout, inter.end_ms - inter.start_ms)
    except ValueError as exc:
        raise ShopstreamError(str(exc)) from exc
    return time_split(inter, holdout)


def evaluate_job(client: Client, settings: Settings, tenant: str, choice: SplitChoice,
                 progress: Progress) -> dict[str, object]:
    inter = read(client, settings, tenant, progress)
    return dict(evaluate(make_split(inter, choice), Weights.from_settings(settings),
                         AlsParams.from_settings(settings), inter.n_users, inter.n_items, progress))


def fit(inter: Interactions, weights: Weights, params: AlsParams, progress: Progress) -> TrainedModel:
    matrix = user_item_matrix(inter, weights, inter.end_ms)
    als = train_als(matrix, params, progress)
    return TrainedModel.build(als, matrix, inter.user_ids, inter.item_ids, inter.item_categories,
                              purchased_matrix(inter))


def train_job(client: Client, settings: Settings, tenant: str, choice: SplitChoice,
              progress: Progress, send: Send | None = None,
              now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dict[str, object]:
    """Train, register and gate a model; publish recommendations when it becomes active."""
    started = time.perf_counter()
    weights, params = Weights.from_settings(settings), AlsParams.from_settings(settings)
    inter = read(client, settings, tenant, progress)
    evaluation = evaluate(make_split(inter, choice), weights, params, inter.n_users,
                          inter.n_items, progress)
    progress("fitting the model on all the data")
    model = fit(inter, weights, params, progress)
    registry = Registry(client, settings.model_registry, tenant)
    record = registry.save(model, ModelRecord(
        tenant=tenant, version=registry.next_version(), trained_at=now(),
        data_start=ms_to_datetime(inter.start_ms), data_end=ms_to_datetime(inter.end_ms),
        params={"als": params.as_dict(), "weights": weights.as_dict(), "days": settings.reco_days,
                "gate_metric": settings.reco_gate_metric, "tolerance": settings.reco_gate_tolerance},
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
    rows = top_n_rows(model, users, settings.reco_publish_n)
    count = publish(client, send, tenant, version, generated_at, rows)
    where = "ClickHouse `recommendations`" + (
        f" and Kafka {settings.topics.recommendations}" if send else " (no Kafka broker configured)")
    progress(f"published top-{settings.reco_publish_n} for {count:,} recently active users to {where}")
    return count
