"""Kafka client calls that may hang, bounded in time, and the failure that stops a stage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.bounded import CallStuck, call_within


class StageFailed(RuntimeError):
    """The stage cannot go on (fenced by another instance, a fatal producer error)."""


def bounded(call: Callable[..., Any], *args: Any, grace_s: float = 20.0) -> None:
    """Run a transaction call whose last argument is its timeout, and give up on it
    ``grace_s`` after that (:func:`models.bounded.call_within`). A call that hangs makes the
    stage fail (the worker exits non-zero and restarts, and the restarted worker aborts the
    open transaction), instead of blocking it for ever."""
    try:
        call_within(call, *args, grace_s=grace_s)
    except CallStuck as exc:
        raise StageFailed(str(exc)) from None
