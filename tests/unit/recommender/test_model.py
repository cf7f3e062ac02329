"""The trained model's cold start: shoppers with one or two interactions get the content
model when the selection chose it; a shopper the model does not know gets products like
the ones they looked at; an unseen product gets products sharing its attributes."""

from __future__ import annotations

import numpy as np

from recommender.candidates import Candidate, TrainingData, fit
from recommender.interactions import VIEW, Interactions
from recommender.matrix import Weights
from recommender.model import TrainedModel
from tests.planted import planted


def shop() -> tuple[Interactions, TrainingData]:
    inter, _ = planted(groups=4, users_per_group=20, items_per_group=10, per_user=20,
                       in_group=1.0)
    # one more shopper with a single view of p00012 (category cat1)
    inter = Interactions.from_rows(
        [*inter.user_ids[inter.users], "newcomer"], [*inter.item_ids[inter.items], "p00012"],
        [*inter.kinds, VIEW], [*inter.times, inter.end_ms],
        {str(p): str(c) for p, c in zip(inter.item_ids, inter.item_categories, strict=True)})
    return inter, TrainingData.of(inter, Weights(), inter.end_ms)


def test_cold_users_get_content_and_unknown_shoppers_get_products_like_theirs(tmp_path):
    inter, data = shop()
    winner = fit(Candidate("item_knn", {"weighting": "cosine", "neighbours": 20}), data)
    model = TrainedModel.build(winner, data, fit(Candidate("content"), data), "content")
    model.save(tmp_path / "v1")
    model = TrainedModel.load(tmp_path / "v1")
    newcomer = model.user_code("newcomer")
    assert model.is_cold(newcomer) and model.scorer_for(newcomer)[0] == "content"
    assert model.scorer_for(model.user_code("u000000"))[0] == "model"
    cat1 = {f"p{i:05d}" for i in range(10, 20)}
    got = [p for p, _ in model.recommend(newcomer, 5)]
    assert len(got) == 5 and set(got) <= cat1
    unknown = [p for p, _ in model.recommend_items([model.item_code("p00033")], 5)]
    assert set(unknown) <= {f"p{i:05d}" for i in range(30, 40)} and "p00033" not in unknown
    like = [p for p, _ in model.similar_by_attributes("cat2", "", 10.0, 4)]
    assert len(like) == 4 and set(like) <= {f"p{i:05d}" for i in range(20, 30)}


def test_the_winner_serves_cold_users_when_chosen_so():
    _inter, data = shop()
    winner = fit(Candidate("popularity"), data)
    model = TrainedModel.build(winner, data, fit(Candidate("content"), data), "winner")
    newcomer = model.user_code("newcomer")
    assert model.scorer_for(newcomer)[0] == "model"
    ids, scores = model.recommend_many(np.asarray([newcomer, 0]), 3)
    assert ids.shape == (2, 3) and np.isfinite(scores).all()
