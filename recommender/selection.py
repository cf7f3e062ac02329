"""Choosing a shop's model (side effects: the clock, for the time budget; progress lines).

Every candidate of the search is fitted on the validation split's training side and ranked
for its test users (at most ``max_users`` of them, a seeded sample). The best candidate on
the gate metric wins only if it beats popularity by more than twice the standard error of
the per-user difference (a paired comparison): on data without structure, a candidate that
is ahead by chance does not displace popularity. When repeat purchases apply, a blend of the
best buy-again ranker with the best other personalised candidate is tried too. Candidates
are tried cheapest first; once ``budget_s`` is spent the rest are skipped (and listed so).

The cold start is chosen the same way on the validation's cold users: the winner, the
content model or popularity, whichever serves them best.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recommender.candidates import REPEAT_ONLY, Candidate, TrainingData, fit
from recommender.matrix import Weights
from recommender.ranking import K, per_user, self_information, summarize
from recommender.scorers import Scorer, top_k
from recommender.slices import COLD_MAX, activity
from recommender.splits import MIN_VALIDATION_USERS, Split

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
BASELINE = Candidate("popularity")
NON_PERSONAL = ("popularity", "recent_popularity")
MIN_COLD_USERS = 10
SE_FACTOR = 2.0
BATCH = 1_000


@dataclass(frozen=True)
class Search:
    candidates: list[Candidate]
    metric: str = f"precision@{K}"
    budget_s: float = 30.0
    max_users: int = 2_000
    seed: int = 7
    fallback: Candidate = BASELINE  # when there is nothing to validate on


@dataclass
class Trial:
    candidate: Candidate
    status: str = "fitted"              # fitted, winner, skipped: ..., failed: ...
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    values: np.ndarray | None = None    # the gate metric per validation user
    recs: dict[int, list[int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.candidate.name, **self.candidate.as_dict(), "status": self.status,
                "seconds": round(self.seconds, 3),
                **{m: round(v, 5) for m, v in self.metrics.items()}}


@dataclass
class Selection:
    winner: Candidate
    cold_start: Candidate
    reason: str
    trials: list[Trial] = field(default_factory=list)
    split: str = ""
    users: int = 0
    seconds: float = 0.0
    metric: str = f"precision@{K}"
    budget_s: float = 0.0

    def chosen(self) -> dict[str, Any]:
        return {**self.winner.as_dict(), "name": self.winner.name,
                "cold_start": self.cold_start.name, "reason": self.reason}

    def as_dict(self) -> dict[str, Any]:
        return {"split": self.split, "validation_users": self.users, "metric": self.metric,
                "seconds": round(self.seconds, 2), "budget_s": self.budget_s,
                "candidates": [t.as_dict() for t in self.trials]}


def rank(scorer: Scorer, data: TrainingData, users: list[int], exclude_bought: bool,
         k: int = K) -> dict[int, list[int]]:
    """Each user's top k from ``scorer``, leaving out what they bought when asked."""
    out: dict[int, list[int]] = {}
    for start in range(0, len(users), BATCH):
        chunk = np.asarray(users[start:start + BATCH], dtype=np.int64)
        scores = scorer.scores(chunk, data.matrix[chunk])
        lists = top_k(scores, k, data.purchased[chunk] if exclude_bought else None)
        out.update(zip(chunk.tolist(), lists, strict=True))
    return out


def select(validation: Split | None, weights: Weights, search: Search, repeat: bool,
           progress: Progress, k: int = K) -> Selection:
    if len(search.candidates) == 1:
        only = search.candidates[-1]
        return Selection(only, only, f"the only candidate: {only.name}", metric=search.metric)
    users = sorted(validation.relevant) if validation is not None else []
    if validation is None or len(users) < MIN_VALIDATION_USERS or len(validation.train) == 0:
        reason = (f"{len(users)} validation users on the training side (at least "
                  f"{MIN_VALIDATION_USERS} needed to choose): {search.fallback.name} is used "
                  "as configured")
        progress(reason)
        return Selection(search.fallback, search.fallback, reason, metric=search.metric)
    if len(users) > search.max_users:
        users = sorted(np.random.default_rng(search.seed).choice(
            users, search.max_users, replace=False).tolist())
    started = time.perf_counter()
    data = TrainingData.of(validation.train, weights, validation.as_of_ms)
    counts = activity(validation.train)
    novelty = self_information(data.popularity, int((counts > 0).sum()))
    relevant = {u: validation.relevant[u] for u in users}
    n_items = validation.train.n_items
    progress(f"selecting a model: {len(search.candidates)} candidates on {validation.description} "
             f"({len(users):,} validation users, budget {search.budget_s:.0f}s)")

    def attempt(candidate: Candidate) -> Trial:
        trial = Trial(candidate)
        spent = time.perf_counter() - started
        if candidate != BASELINE and spent > search.budget_s:
            trial.status = f"skipped: time budget ({search.budget_s:.0f}s) spent"
            return trial
        t0 = time.perf_counter()
        try:
            scorer = fit(candidate, data, None, search.seed)
            trial.recs = rank(scorer, data, users, not repeat, k)
        except (ValueError, RuntimeError, MemoryError) as exc:
            trial.status = f"failed: {exc}"
            log.warning("recommender candidate %s failed: %s", candidate.name, exc)
            return trial
        trial.seconds = time.perf_counter() - t0
        trial.metrics = summarize(trial.recs, relevant, n_items, k, novelty)
        trial.values = per_user(search.metric, trial.recs, relevant, users)
        progress(f"  [{len(trials) + 1}/{len(search.candidates)}] {candidate.name}: "
                 f"{search.metric} {trial.metrics[search.metric]:.4f} ({trial.seconds:.1f}s)")
        return trial

    trials: list[Trial] = []
    for candidate in search.candidates:
        trials.append(attempt(candidate))
    fitted = [t for t in trials if t.values is not None]
    blend = _blend_of(fitted) if repeat else None
    if blend is not None:
        trials.append(attempt(blend))
        fitted = [t for t in trials if t.values is not None]
    winner, reason = _winner(fitted, search.metric)
    cold = _cold_start(fitted, winner, users, counts, search.metric)
    for t in trials:
        if t.candidate == winner.candidate:
            t.status = "winner"
    seconds = time.perf_counter() - started
    progress(f"selected {winner.candidate.name} in {seconds:.1f}s: {reason}; "
             f"cold start: {cold.name}")
    return Selection(winner.candidate, cold, reason, trials, validation.description, len(users),
                     seconds, search.metric, search.budget_s)


def _blend_of(fitted: list[Trial]) -> Candidate | None:
    again = [t for t in fitted if t.candidate.family == "buy_again"]
    others = [t for t in fitted if t.candidate.family not in (*NON_PERSONAL, *REPEAT_ONLY)]
    if not again or not others:
        return None
    best = lambda ts: max(ts, key=_mean).candidate  # noqa: E731
    return Candidate("blend", {"first": best(again), "then": best(others)})


def _mean(trial: Trial) -> float:
    return float(np.mean(trial.values)) if trial.values is not None else float("-inf")


def _winner(fitted: list[Trial], metric: str) -> tuple[Trial, str]:
    baseline = next(t for t in fitted if t.candidate == BASELINE)
    rivals = [t for t in fitted if t.candidate != BASELINE]
    if not rivals:
        return baseline, "popularity was the only candidate fitted"
    best = max(rivals, key=_mean)  # the first of equals: the cheaper
    assert best.values is not None and baseline.values is not None
    diff = best.values - baseline.values
    gain = float(diff.mean())
    se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("inf")
    figures = (f"{best.candidate.name} {metric} {best.metrics[metric]:.4f} against popularity's "
               f"{baseline.metrics[metric]:.4f} on validation (gain {gain:+.4f}, "
               f"standard error {se:.4f})")
    if gain > SE_FACTOR * se:
        return best, f"{figures}: more than {SE_FACTOR:g} standard errors ahead"
    return baseline, f"{figures}: not {SE_FACTOR:g} standard errors ahead, popularity kept"


def _cold_start(fitted: list[Trial], winner: Trial, users: list[int], counts: np.ndarray,
                metric: str) -> Candidate:
    cold = np.array([counts[u] <= COLD_MAX for u in users])
    if cold.sum() < MIN_COLD_USERS:
        return winner.candidate
    options = [winner] + [t for t in fitted if t.candidate.family == "content"
                          or t.candidate == BASELINE]
    best = max(options, key=lambda t: float(t.values[cold].mean()))  # type: ignore[index]
    return best.candidate
