"""The live stage with the suppression list: the stage's processor, wrapped so that its live
state forgets erased people (:func:`streams.live.erasure.forget`) when it takes partitions
over (a state restored from before an erasure) and at its first tick after each erasure is
heard of, then at every tick for :data:`GRACE_MS` more, for events of the person that the
validation stage let through before it knew. The tombstones go into the stage's write-back
cache, so they are produced at its next commit, in the same transaction as its other work.

Once anyone is on the list, a canonical event that carries an erased id (read again after
a consumer-group reset, or produced straight to ``shop.events``) is skipped, never applied:
the state does not take the person back (this costs one more JSON parse per event)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson

from models.settings import Settings
from streams.kafka.records import Consumed, Record
from streams.kafka.write_back import WriteBackCache
from streams.live.clock import wall_ms
from streams.live.erasure import forget
from streams.privacy.suppression import SuppressionList, followed

GRACE_MS = 60_000


class LiveProcessor(Protocol):
    """What is used of :class:`streams.stages.live.LiveProcessor` (which imports this)."""

    live: Any  # the LiveStage: its lock and partition states
    cache: WriteBackCache

    def assigned(self, partitions: list[int]) -> None: ...
    def revoked(self, partitions: list[int]) -> None: ...
    def handle(self, record: Consumed) -> list[Record]: ...
    def tick(self, caught_up: set[int]) -> list[Record]: ...
    def pending(self) -> bool: ...
    def flush(self) -> list[Record]: ...
    def committed(self) -> None: ...


class Forgetting:
    """A :class:`~streams.stages.live.LiveProcessor` that forgets erased people."""

    def __init__(self, inner: LiveProcessor, erased: SuppressionList,
                 clock: Callable[[], int] = wall_ms) -> None:
        self.inner, self.erased, self.clock = inner, erased, clock
        self._heard = threading.Event()
        self._until = self._last = 0  # forget at ticks until then, once a second (wall ms)
        erased.listen(lambda _digest: self._heard.set())

    def _forget(self, partitions: Iterable[int]) -> None:
        live = self.inner.live
        with live.lock:
            for partition in partitions:
                state = live.states.get(partition)
                writes = forget(state, self.erased.erased) if state is not None else {}
                if writes:
                    self.inner.cache.update(partition, writes)

    def assigned(self, partitions: list[int]) -> None:
        self.inner.assigned(partitions)
        if len(self.erased):
            self._forget(partitions)

    def revoked(self, partitions: list[int]) -> None:
        self.inner.revoked(partitions)

    def handle(self, record: Consumed) -> list[Record]:
        if len(self.erased) and self._erased(record.value):
            return []
        return self.inner.handle(record)

    def _erased(self, value: bytes | None) -> bool:
        try:
            event = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            return False  # the stage dead-letters it
        if not isinstance(event, dict):
            return False
        tenant = str(event.get("tenant") or "")
        return any(self.erased.erased(tenant, event.get(field))
                   for field in ("userId", "anonymousId", "previousId"))

    def tick(self, caught_up: set[int]) -> list[Record]:
        out = self.inner.tick(caught_up)
        now = self.clock()
        if self._heard.is_set():
            self._heard.clear()
            self._until, self._last = now + GRACE_MS, 0
        if now <= self._until and now - self._last >= 1_000:
            self._last = now
            self._forget(list(self.inner.live.states))
        return out

    def pending(self) -> bool:
        return self.inner.pending()

    def flush(self) -> list[Record]:
        return self.inner.flush()

    def committed(self) -> None:
        self.inner.committed()


def forgetting(inner: LiveProcessor, settings: Settings, bootstrap: str) -> Forgetting:
    """The live stage's processor following the suppression list (read to its end first)."""
    return Forgetting(inner, followed(settings, bootstrap))
