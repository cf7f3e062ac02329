"""The live session funnel (pure): visit -> product view -> add to cart -> checkout ->
purchase, in that order, counted per one-minute window of the session's start, per
tenant and UTM source.

A session is the context ``sessionId``, or, when none is sent, a shopper's run of
events with gaps under 30 minutes. A session reaches a stage only after the one
before it (the same rule as ClickHouse's ``windowFunnel`` in the ``sessions``
rollup): an add to cart before any product view does not count. Windows are kept
for a day of event time; a session's state until it has been quiet 30 minutes.

State keys: ``s|<tenant>|<session>`` -> ``{"level", "window", "source", "last", "who"}``
(``who``: the device key of the session's first event, so that an erasure finds it);
``f|<tenant>|<source>|<window ms>`` -> five counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.funnel import (
    FUNNEL_STAGES,
    GAP_PREFIX,
    SESSION_CALLS,
    STAGE_OF,
    continues_session,
    gap_session_id,
)
from streams.live.events import Effects, LiveEvent

STAGES = FUNNEL_STAGES
MINUTE_MS = 60_000
KEEP_MS = 86_400_000


@dataclass
class Session:
    level: int
    window: int
    source: str
    last: int
    who: str = ""  # the device key that opened it ("" in states written before it was kept)


@dataclass
class Funnel:
    sessions: dict[tuple[str, str], Session] = field(default_factory=dict)
    gap_sessions: dict[tuple[str, str], str] = field(default_factory=dict)  # user -> session id
    windows: dict[tuple[str, str, int], list[int]] = field(default_factory=dict)
    dirty: set[tuple[str, str, int]] = field(default_factory=set)  # for the ClickHouse snapshot

    def restore(self, key: str, value: Any) -> None:
        kind, rest = key[0], key[2:]
        if kind == "s":
            tenant, session = rest.split("|", 1)
            self.sessions[(tenant, session)] = Session(**value)
            if session.startswith(GAP_PREFIX):
                self.gap_sessions[(tenant, session[len(GAP_PREFIX):].rsplit("@", 1)[0])] = session
        else:
            tenant, source_window = rest.split("|", 1)
            source, window = source_window.rsplit("|", 1)
            self.windows[(tenant, source, int(window))] = list(value)

    def _session_id(self, ev: LiveEvent) -> str:
        if ev.session_id:
            return str(ev.session_id)
        # by device: a run that goes on through a login stays one session (ClickHouse, which
        # knows every link at query time, runs it by person: the same run on one device)
        current = self.gap_sessions.get((ev.tenant, ev.device))
        if current is not None:
            state = self.sessions.get((ev.tenant, current))
            if state is not None and continues_session(state.last, ev.ts):
                return current
        session = gap_session_id(ev.device, ev.ts)
        self.gap_sessions[(ev.tenant, ev.device)] = session
        return session

    def apply(self, ev: LiveEvent) -> Effects:
        effects = Effects()
        if ev.call not in SESSION_CALLS or not ev.user_key:
            return effects
        session_id = self._session_id(ev)
        skey = (ev.tenant, session_id)
        state = self.sessions.get(skey)
        if state is None:
            state = Session(level=1, window=ev.ts - ev.ts % MINUTE_MS, source=ev.source, last=ev.ts,
                            who=ev.device)
            self._count(effects, ev.tenant, state, 1)
        stage = STAGE_OF.get(ev.name)
        if stage == state.level + 1:
            state.level = stage
            self._count(effects, ev.tenant, state, stage)
        state.last = max(state.last, ev.ts)
        self.sessions[skey] = state
        effects.writes[f"s|{ev.tenant}|{session_id}"] = state.__dict__.copy()
        return effects

    def _count(self, effects: Effects, tenant: str, state: Session, stage: int) -> None:
        wkey = (tenant, state.source, state.window)
        counts = self.windows.setdefault(wkey, [0] * len(STAGES))
        counts[stage - 1] += 1
        self.dirty.add(wkey)
        effects.writes[f"f|{tenant}|{state.source}|{state.window}"] = list(counts)

    def take_dirty(self) -> list[tuple[tuple[str, str, int], list[int]]]:
        """The windows changed since the last call, with their counts; marks them clean."""
        changed = [(key, list(self.windows[key])) for key in self.dirty if key in self.windows]
        self.dirty.clear()
        return changed

    def expire(self, now_ms: int) -> Effects:
        effects = Effects()
        for (tenant, session), state in list(self.sessions.items()):
            if not continues_session(state.last, now_ms):
                del self.sessions[(tenant, session)]
                effects.writes[f"s|{tenant}|{session}"] = None
                if session.startswith(GAP_PREFIX):
                    user = session[len(GAP_PREFIX):].rsplit("@", 1)[0]
                    if self.gap_sessions.get((tenant, user)) == session:
                        del self.gap_sessions[(tenant, user)]
        for (tenant, source, window) in list(self.windows):
            if now_ms - window >= KEEP_MS:
                del self.windows[(tenant, source, window)]
                effects.writes[f"f|{tenant}|{source}|{window}"] = None
        return effects


def funnel_view(books: list[Funnel], tenant: str, since_ms: int, until_ms: int) -> dict[str, Any]:
    """Sessions reaching each stage for windows starting in [since, until), overall and by
    UTM source, with stage-to-stage and overall conversion."""
    overall = [0] * len(STAGES)
    by_source: dict[str, list[int]] = {}
    for book in books:
        for (t, source, window), counts in book.windows.items():
            if t != tenant or not since_ms <= window < until_ms:
                continue
            target = by_source.setdefault(source or "(direct)", [0] * len(STAGES))
            for i, n in enumerate(counts):
                overall[i] += n
                target[i] += n
    return {"stages": describe(overall),
            "by_source": {source: describe(counts) for source, counts in sorted(by_source.items())}}


def describe(counts: list[int]) -> list[dict[str, Any]]:
    out = []
    for i, (stage, n) in enumerate(zip(STAGES, counts, strict=True)):
        previous = counts[i - 1] if i else None
        out.append({"stage": stage, "sessions": n,
                    "conversion": round(n / previous, 4) if previous else None,
                    "of_visits": round(n / counts[0], 4) if counts[0] else None})
    return out
