"""How every stage's transactional loop is configured from the settings (defined once)."""

from __future__ import annotations

from typing import Any

from models.settings import Settings
from streams.app import faust_app_id
from streams.kafka.transactional import LoopConfig


def stage_loop(settings: Settings, bootstrap: str, topic: str, stage: str,
               min_interval_s: float | None = None, **extra: Any) -> LoopConfig:
    """The loop of ``stage`` (its consumer group is ``<app>-<stage>``) reading ``topic``: a
    transactional id stable per worker instance, the settings' commit intervals and session
    timeout; ``min_interval_s``: the stage's own early-commit interval, else the settings';
    ``extra``: the stage's own (a tick interval)."""
    group = f"{faust_app_id(settings)}-{stage}"
    early = min_interval_s or settings.commit_min_interval_s or settings.commit_interval_s
    # (an early commit later than the interval is no early commit: the interval decides)
    return LoopConfig(
        bootstrap=bootstrap, topic=topic, group=group,
        transactional_id=f"{group}-{settings.instance_id}",
        commit_interval_s=settings.commit_interval_s,
        commit_min_interval_s=min(early, settings.commit_interval_s),
        session_timeout_ms=int(settings.session_timeout_s * 1000), **extra)
