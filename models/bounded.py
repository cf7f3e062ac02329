"""Client calls that may hang, bounded in time (defined once: the stream stages' transaction
calls and the ClickHouse sink's offset commits use it)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

_IDLE_S = 60.0  # a helper thread nobody has called for this long ends (a stage that stopped)


class CallStuck(RuntimeError):
    """A bounded call did not return in time: its client is stuck."""


class _Helper:
    """One daemon thread that runs the bounded calls of one calling thread, one at a time
    (a stage makes two or so per commit: a thread started for each cost more than the call).
    It ends after ``_IDLE_S`` without a call; one whose call hung is never handed another."""

    def __init__(self) -> None:
        self.calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.lock = threading.Lock()  # a call is handed over only to a helper that goes on
        self.alive = True
        self.thread = threading.Thread(target=self._run, name="bounded-calls", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                work = self.calls.get(timeout=_IDLE_S)
            except queue.Empty:
                with self.lock:
                    if self.calls.empty():
                        self.alive = False
                        return
                continue
            work()

    def hand(self, work: Callable[[], None]) -> bool:
        """Queue ``work``; False when this helper has ended or was given up on."""
        with self.lock:
            if self.alive:
                self.calls.put(work)
            return self.alive


_helpers = threading.local()


def _hand(work: Callable[[], None]) -> _Helper:
    """Hand ``work`` to the calling thread's helper (a new one when it has none left)."""
    helper: _Helper | None = getattr(_helpers, "helper", None)
    while helper is None or not helper.hand(work):
        helper = _helpers.helper = _Helper()
    return helper


def call_within(call: Callable[..., Any], *args: Any, grace_s: float = 20.0) -> None:
    """Run ``call(*args)``, whose last argument is its own timeout in seconds, in a helper
    thread of the calling thread's, and give up on it ``grace_s`` after that timeout: raises
    :class:`CallStuck` then (the helper is left behind, a daemon, and the next call gets a
    new one), or what the call raised. Seen here after a broker restart: librdkafka's
    ``send_offsets_to_transaction`` did not return for minutes despite its timeout."""
    outcome: list[BaseException | None] = []
    done = threading.Event()

    def work() -> None:
        try:
            call(*args)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)
        finally:
            done.set()

    limit = float(args[-1]) + grace_s
    helper = _hand(work)
    if not done.wait(limit):
        with helper.lock:
            helper.alive = False  # stuck in this call: never handed another
        _helpers.helper = None
        raise CallStuck(f"{getattr(call, '__name__', 'a call')} did not return within "
                        f"{limit:.0f} s: the Kafka client is stuck; restarting")
    if outcome[0] is not None:
        raise outcome[0]
