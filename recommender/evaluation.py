"""Offline evaluation: select a model on a validation split cut from the training side
(``recommender.selection``), refit it on the training side, and score it and the baselines
on the held-out side (``recommender.splits``), for all test users and per slice
(``recommender.slices``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from models.errors import ShopstreamError
from recommender.candidates import Candidate, TrainingData, fit
from recommender.matrix import Weights
from recommender.ranking import K, self_information, summarize
from recommender.repeat import RepeatDecision
from recommender.selection import Search, Selection, rank, select
from recommender.slices import COLD_MAX, activity, cold_item_relevance, user_slices
from recommender.splits import (  # noqa: F401 - the evaluation's public names
    Split,
    SplitPlan,
    leave_last_split,
    parse_duration,
    resolve_holdout,
    time_split,
)

Progress = Callable[[str], None]


def evaluate(split: Split, validation: Split | None, weights: Weights, search: Search,
             repeat: RepeatDecision, n_users: int, n_items: int,
             progress: Progress = lambda _: None, k: int = K) -> tuple[dict[str, Any], Selection]:
    """Select a model on ``validation`` (or take the search's only candidate when there is
    none), refit it on ``split.train`` and measure it and both baselines on ``split``, per
    slice. Returns the evaluation (see the README) and the selection."""
    users = sorted(split.relevant)
    if len(split.train) == 0 or not users:
        raise ShopstreamError(
            f"not enough data to evaluate ({split.description}): {len(split.train)} training "
            f"interactions, {len(users)} test users; hold out less, or let more events arrive")
    selection = select(validation, weights, search, repeat.applied, progress, k)
    progress(f"evaluating {selection.winner.name} on {split.description}: "
             f"{len(split.train):,} training interactions, {len(users):,} test users")
    data = TrainingData.of(split.train, weights, split.as_of_ms)
    counts = activity(split.train)
    exclude = not repeat.applied
    recs = served(selection, data, users, counts, exclude, progress, k)
    baselines = {name: rank(fit(Candidate(name), data), data, users, exclude, k)
                 for name in ("popularity", "recent_popularity")}
    novelty = self_information(data.popularity, int((counts > 0).sum()))
    slices: dict[str, dict[str, Any]] = {}
    groups = {**user_slices(users, counts),
              "cold_items": sorted(cold_item_relevance(split.relevant, data.popularity))}
    cold_relevant = cold_item_relevance(split.relevant, data.popularity)
    for name, members in groups.items():
        relevant = {u: (cold_relevant if name == "cold_items" else split.relevant)[u]
                    for u in members}
        slices[name] = {"users": len(members),
                        "model": summarize(recs, relevant, n_items, k, novelty),
                        **{b: summarize(r, relevant, n_items, k, novelty)
                           for b, r in baselines.items()}}
    everyone = slices.pop("all")
    return {
        "model": everyone["model"],
        "baselines": {"popularity": everyone["popularity"],
                      "recent_popularity": everyone["recent_popularity"]},
        "slices": slices,
        "selected": selection.chosen(),
        "selection": selection.as_dict(),
        "repeat": repeat.as_dict(),
        "n_users": n_users, "n_items": n_items, "n_test_users": len(users),
        "split": split.description,
    }, selection


def served(selection: Selection, data: TrainingData, users: list[int], counts: np.ndarray,
           exclude_bought: bool, progress: Progress, k: int = K) -> dict[int, list[int]]:
    """What serving would show: the winner's lists, and the cold-start model's for users
    with at most two interactions."""
    recs = rank(fit(selection.winner, data, progress), data, users, exclude_bought, k)
    if selection.cold_start != selection.winner:
        cold = [u for u in users if counts[u] <= COLD_MAX]
        if cold:
            recs.update(rank(fit(selection.cold_start, data), data, cold, exclude_bought, k))
    return recs
