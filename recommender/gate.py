"""The promotion gate (pure): when a freshly trained model may replace the active one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(candidate: Mapping[str, float], popularity: Mapping[str, float],
           active: Mapping[str, float] | None, metric: str, tolerance: float) -> Decision:
    """Promote when the candidate beats popularity on ``metric`` and is not worse than the
    active model's recorded ``metric`` by more than ``tolerance`` (a fraction of it)."""
    mine, floor = candidate.get(metric, 0.0), popularity.get(metric, 0.0)
    if not mine > floor:
        return Decision(False, f"{metric} {mine:.4f} does not beat popularity ({floor:.4f})")
    if active is not None and metric in active:
        bar = active[metric] * (1 - tolerance)
        if mine < bar:
            return Decision(False, f"{metric} {mine:.4f} is below the active model's "
                                   f"{active[metric]:.4f} less {tolerance:.0%} tolerance ({bar:.4f})")
        return Decision(True, f"{metric} {mine:.4f} beats popularity ({floor:.4f}) and is within "
                              f"{tolerance:.0%} of the active model ({active[metric]:.4f})")
    return Decision(True, f"{metric} {mine:.4f} beats popularity ({floor:.4f}); no active model")
