"""Implicit-ALS recommender: training, evaluation, registry, serving (see the README's roadmap)."""
