"""Client calls that may hang, bounded in time (defined once: the stream stages' transaction
calls and the ClickHouse sink's offset commits use it)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class CallStuck(RuntimeError):
    """A bounded call did not return in time: its client is stuck."""


def call_within(call: Callable[..., Any], *args: Any, grace_s: float = 20.0) -> None:
    """Run ``call(*args)``, whose last argument is its own timeout in seconds, in a thread,
    and give up on it ``grace_s`` after that timeout: raises :class:`CallStuck` then (the
    thread is left behind, a daemon), or what the call raised. Seen here after a broker
    restart: librdkafka's ``send_offsets_to_transaction`` did not return for minutes despite
    its timeout."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call(*args)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)

    limit = float(args[-1]) + grace_s
    thread = threading.Thread(target=run, name=f"bounded-{getattr(call, '__name__', 'call')}",
                              daemon=True)
    thread.start()
    thread.join(limit)
    if not outcome:
        raise CallStuck(f"{getattr(call, '__name__', 'a call')} did not return within "
                        f"{limit:.0f} s: the Kafka client is stuck; restarting")
    if outcome[0] is not None:
        raise outcome[0]
