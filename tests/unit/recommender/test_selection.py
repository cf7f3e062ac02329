"""Model selection on planted data where the right answer is known: repeat buyers -> buy
again; groups of shoppers and products -> collaborative filtering; no structure ->
popularity, kept by the gate. Also: the time budget, and the fallback with too few
validation users."""

from __future__ import annotations

import pytest

from models.settings import load_settings
from recommender.gate import decide
from recommender.job import SplitChoice, assess, fit_model
from recommender.matrix import Weights
from tests.planted import planted, planted_repeat

SETTINGS = load_settings(reco_factors=16, reco_iterations=10)


def run(inter, **overrides):
    lines: list[str] = []
    settings = SETTINGS.model_copy(update=overrides)
    evaluation, selection, repeat = assess(inter, settings, "default", SplitChoice("auto"),
                                           lines.append)
    return evaluation, selection, repeat, lines


def test_repeat_buyers_get_buy_again():
    inter = planted_repeat()
    evaluation, selection, repeat, lines = run(inter)
    assert repeat.applied and "re-buying is common" in repeat.reason
    assert evaluation["repeat"]["applied"] is True and evaluation["repeat"]["setting"] == "auto"
    assert selection.winner.family in ("buy_again", "blend"), selection.reason
    if selection.winner.family == "blend":
        assert selection.winner.params["first"].family == "buy_again"
    test, popularity = evaluation["model"]["precision@10"], \
        evaluation["baselines"]["popularity"]["precision@10"]
    assert test > popularity + 0.03, evaluation["model"]
    # serving such a model recommends what the shopper bought: their staples come first
    model = fit_model(inter, Weights(), selection, repeat.applied, lambda _: None)
    user = 0
    bought = {str(inter.item_ids[i]) for i in model.bought(user)}
    top = [p for p, _ in model.recommend(user, 3)]
    assert set(top) <= bought, (top, bought)
    assert any("selecting a model" in line for line in lines)


def test_the_same_shop_with_repeat_never_recommends_nothing_bought():
    inter = planted_repeat()
    evaluation, selection, repeat, _ = run(inter, reco_repeat="default=never,*=always")
    assert not repeat.applied and repeat.setting == "never"
    assert "setting never" in evaluation["repeat"]["reason"]
    assert all(c["family"] not in ("buy_again", "blend")
               for c in evaluation["selection"]["candidates"])
    model = fit_model(inter, Weights(), selection, repeat.applied, lambda _: None)
    bought = {str(inter.item_ids[i]) for i in model.bought(0)}
    assert not {p for p, _ in model.recommend(0, 10)} & bought


def test_groups_get_collaborative_filtering():
    inter, _ = planted(groups=8, users_per_group=40, items_per_group=20, in_group=0.9,
                       group_categories=False)
    evaluation, selection, repeat, _ = run(inter)
    assert not repeat.applied
    assert selection.winner.family in ("als", "item_knn"), selection.reason
    figures = {c["name"]: c for c in evaluation["selection"]["candidates"]}
    assert figures[selection.winner.name]["status"] == "winner"
    assert evaluation["model"]["precision@10"] > \
        evaluation["baselines"]["popularity"]["precision@10"] + 0.05
    # every family was tried and figured
    assert {c["family"] for c in evaluation["selection"]["candidates"]} >= {
        "popularity", "recent_popularity", "content", "item_knn", "als"}
    weightings = {c["params"].get("weighting") for c in evaluation["selection"]["candidates"]}
    assert {"cosine", "bm25", "tfidf"} <= weightings


def test_no_structure_keeps_popularity_and_the_gate_agrees():
    inter, _ = planted(groups=8, users_per_group=40, items_per_group=20, in_group=0.0)
    evaluation, selection, _, _ = run(inter)
    assert selection.winner.family == "popularity", selection.reason
    assert "popularity kept" in selection.reason
    decision = decide(evaluation["model"], evaluation["baselines"]["popularity"], None,
                      "precision@10", 0.05)
    assert not decision.promote  # the shop keeps popularity (trending) serving


def test_time_budget_skips_the_rest_but_always_has_popularity():
    inter, _ = planted(groups=4, users_per_group=30, items_per_group=15, in_group=0.9)
    evaluation, selection, _, _ = run(inter, reco_search_seconds=0.0)
    statuses = {c["name"]: c["status"] for c in evaluation["selection"]["candidates"]}
    assert statuses["popularity"] == "winner"
    skipped = [s for s in statuses.values() if s.startswith("skipped: time budget")]
    assert len(skipped) == len(statuses) - 1
    assert selection.winner.family == "popularity"


def test_families_setting_limits_the_search_and_bad_names_are_refused():
    inter, _ = planted(groups=4, users_per_group=30, items_per_group=15, in_group=0.9)
    evaluation, _, _, _ = run(inter, reco_candidates="item_knn")
    assert {c["family"] for c in evaluation["selection"]["candidates"]} == {"popularity",
                                                                          "item_knn"}
    with pytest.raises(Exception, match="unknown recommender families"):
        run(inter, reco_candidates="deep_learning")


def test_too_few_validation_users_fall_back_to_the_configured_model():
    inter, _ = planted(groups=2, users_per_group=5, items_per_group=10, per_user=10,
                       in_group=0.9)
    evaluation, selection, _, lines = run(inter)
    assert selection.winner.family == "als"
    assert selection.winner.params["factors"] == 16
    assert "validation users" in selection.reason and evaluation["selection"]["candidates"] == []
