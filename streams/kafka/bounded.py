"""Kafka client calls that may hang, bounded in time, and the failure that stops a stage."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class StageFailed(RuntimeError):
    """The stage cannot go on (fenced by another instance, a fatal producer error)."""


def bounded(call: Callable[..., Any], *args: Any, grace_s: float = 20.0) -> None:
    """Run a transaction call whose last argument is its timeout, and give up on it
    ``grace_s`` after that: seen here after a broker restart, librdkafka's
    ``send_offsets_to_transaction`` did not return for minutes despite its timeout. A call
    that hangs makes the stage fail (the worker exits non-zero and restarts, and the
    restarted worker aborts the open transaction), instead of blocking it for ever."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call(*args)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=run, name=f"txn-{call.__name__}", daemon=True)
    thread.start()
    thread.join(float(args[-1]) + grace_s)
    if not outcome:
        raise StageFailed(f"{call.__name__} did not return within {float(args[-1]) + grace_s:.0f}"
                          " s: the Kafka client is stuck; restarting")
    if outcome[0] is not None:
        raise outcome[0]
