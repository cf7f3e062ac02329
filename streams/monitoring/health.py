"""Health of each stage the worker runs, for ``/health`` and for the worker's exit code.

Each stage (validation, live, sink) reports through its own :class:`StageHealth`: alive
or not, the partitions it owns, when it last made progress, when it last committed, and
whether it is blocked and why (ClickHouse unavailable, a transaction that keeps failing).
``/health`` answers 503 when a stage failed or has been blocked for longer than the
threshold. ``/ready`` says more: every stage is running, has been given its partitions
(those of a consumer group) and has rebuilt their state, and every follower has read its
topic; until then it answers 503 with what each is waiting for. Thread-safe: stages run
in their own threads.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

State = str  # "starting" | "restoring" | "running" | "stopped" | "failed"


class StageHealth:
    def __init__(self, name: str, topic: str | None = None, blocked_limit_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.topic, self.blocked_limit_s, self.clock = name, topic, blocked_limit_s, clock
        self._lock = threading.Lock()
        self.state: State = "starting"
        self.partitions: list[int] = []
        self.records = 0
        self.commits = 0
        self.last_progress: float | None = None
        self.last_commit: float | None = None
        self.blocked_since: float | None = None
        self.blocked_reason: str | None = None
        self.error: str | None = None
        self.last_warning: str | None = None
        self.assigned_once = False  # a consumer group's stage is ready once given its partitions

    # -- what stages call -------------------------------------------------------------

    def starting(self) -> None:
        self._set(state="starting")

    def running(self) -> None:
        self._set(state="running")

    def restoring(self) -> None:
        """Partitions were given to a running stage, which rebuilds their state (then
        :meth:`running` again): healthy, not ready."""
        with self._lock:
            if self.state == "running":
                self.state = "restoring"

    def stopped(self) -> None:
        self._set(state="stopped")

    def failed(self, error: str) -> None:
        self._set(state="failed", error=error)

    def assigned(self, partitions: list[int]) -> None:
        self._set(partitions=list(partitions), assigned_once=True)

    def progressed(self, records: int) -> None:
        with self._lock:
            self.records += records
            self.last_progress = self.clock()

    def committed(self) -> None:
        with self._lock:
            self.commits += 1
            self.last_commit = self.last_progress = self.clock()

    def blocked(self, reason: str) -> None:
        with self._lock:
            if self.blocked_since is None:
                self.blocked_since = self.clock()
            self.blocked_reason = reason

    def unblocked(self) -> None:
        self._set(blocked_since=None, blocked_reason=None)

    def warn(self, message: str) -> None:
        self._set(last_warning=message)

    def _set(self, **values: Any) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self, key, value)

    # -- what /health reads ------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        with self._lock:
            return self._healthy(self.clock())

    def _healthy(self, now: float) -> bool:
        if self.state in ("failed", "stopped"):
            return False
        return self.blocked_since is None or now - self.blocked_since < self.blocked_limit_s

    def _waiting_for(self, now: float) -> str | None:
        """Why the stage is not ready, or None when it is."""
        if not self._healthy(now):
            return self.state if self.state in ("failed", "stopped") else "blocked"
        if self.state != "running":
            return self.state
        if self.topic is not None and not self.assigned_once:
            return "its partitions"
        return None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()

            def ago(at: float | None) -> float | None:
                return None if at is None else round(now - at, 3)

            waiting = self._waiting_for(now)
            return {
                "state": self.state, "healthy": self._healthy(now), "ready": waiting is None,
                "waiting_for": waiting, "topic": self.topic,
                "partitions": self.partitions, "records": self.records, "commits": self.commits,
                "last_progress_s_ago": ago(self.last_progress),
                "last_commit_s_ago": ago(self.last_commit),
                "blocked_s": ago(self.blocked_since), "blocked_reason": self.blocked_reason,
                "error": self.error, "last_warning": self.last_warning,
            }


# how long a stage process may take to answer /health, and for how long after its last
# answer a slow one is shown as it last was (a busy validation process on a loaded machine
# answers in seconds; one that is gone refuses the connection and fails at once)
REMOTE_TIMEOUT_S = 5.0
REMOTE_GRACE_S = 30.0


class HealthBoard:
    """Every stage of one worker: its own, and those of the stage processes it started
    (``remotes``: their base URLs; a process that does not answer counts as failed, one that
    is only slow to answer counts as it last was, with a warning, for ``grace_s``)."""

    def __init__(self, remotes: list[str] | None = None, timeout_s: float = REMOTE_TIMEOUT_S,
                 grace_s: float = REMOTE_GRACE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stages: dict[str, StageHealth] = {}
        self.remotes = list(remotes or [])
        self.timeout_s, self.grace_s, self.clock = timeout_s, grace_s, clock
        self._answered: dict[str, tuple[float, dict[str, Any], dict[str, Any]]] = {}

    def stage(self, name: str, topic: str | None = None,
              blocked_limit_s: float = 60.0) -> StageHealth:
        health = self.stages.get(name)
        if health is None:
            health = self.stages[name] = StageHealth(name, topic, blocked_limit_s)
        return health

    def report(self) -> tuple[bool, dict[str, Any]]:
        """(all healthy, stage name -> snapshot). Blocks up to ``timeout_s`` per remote
        process: call it off an event loop."""
        ok, stages, _followers = self.report_all()
        return ok, stages

    def report_all(self) -> tuple[bool, dict[str, Any], dict[str, Any]]:
        """(all healthy, stage name -> snapshot, the remote processes' followers of compacted
        topics: name -> snapshot, see :func:`streams.kafka.follower.followers_health`)."""
        stages = {name: health.snapshot() for name, health in self.stages.items()}
        followers: dict[str, Any] = {}
        for index, url in enumerate(self.remotes):
            remote, followed = self._remote(url)
            for name, snapshot in remote.items():  # two processes' "validate" apart
                stages[f"{name}-{index}" if name in stages else name] = snapshot
            for name, snapshot in followed.items():
                followers[f"{name} (process {index})"] = snapshot
        ok = all(s["healthy"] for s in [*stages.values(), *followers.values()])
        return ok, stages, followers

    def readiness(self, followers: dict[str, Any]) -> tuple[bool, dict[str, str]]:
        """(ready, what is not: stage or follower name -> what it waits for), with this
        process's ``followers`` (their snapshots). Blocks as :meth:`report_all` does."""
        _ok, stages, remote_followers = self.report_all()
        waiting = {name: str(snapshot.get("waiting_for") or snapshot.get("state"))
                   for name, snapshot in stages.items()
                   if not snapshot.get("ready", snapshot.get("state") == "running"
                                       and snapshot.get("healthy"))}
        for name, snapshot in {**followers, **remote_followers}.items():
            if not snapshot.get("loaded"):
                waiting[name] = f"reading {snapshot.get('topic')}"
        return not waiting, waiting

    def _remote(self, url: str) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            stages, followers = remote_stages(url, self.timeout_s)
        except TimeoutError as exc:
            seen = self._answered.get(url)
            waited = None if seen is None else self.clock() - seen[0]
            if seen is None or waited is None or waited > self.grace_s:
                return _not_answering(url, exc), {}
            return {name: {**snapshot, "last_warning": f"its process is slow to answer /health "
                           f"({exc}); as it answered {waited:.0f} s ago"}
                    for name, snapshot in seen[1].items()}, seen[2]
        except (OSError, ValueError, KeyError) as exc:
            return _not_answering(url, exc), {}
        self._answered[url] = (self.clock(), stages, followers)
        return stages, followers


def _not_answering(url: str, exc: BaseException) -> dict[str, Any]:
    return {f"process {url}": {"state": "failed", "healthy": False, "topic": None,
                               "partitions": [], "error": f"not answering: {exc}"}}


def remote_stages(url: str, timeout_s: float = REMOTE_TIMEOUT_S
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(stages, followers) a stage process reports at ``url``/health. Raises ``TimeoutError``
    when it does not answer in time, ``OSError`` when it cannot be reached, ``ValueError``
    or ``KeyError`` for an answer that is not a report."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout_s) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503: it answers, with its stages
        body = json.loads(exc.read())
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(str(exc.reason)) from exc
        raise
    return dict(body["stages"]), dict(body.get("followers") or {})
