"""How each stage's transactional loop is configured from the settings: the commit interval
is every stage's; the early commit of a stage that has read everything is the live stage's
own (its input arrives in bursts) unless the settings set one for every stage."""

from __future__ import annotations

from models.settings import load_settings
from streams.stages.loop_config import stage_loop


def config(**settings: object):
    s = load_settings(**settings)
    validation = stage_loop(s, "k:9092", s.topics.raw, "validate")
    live = stage_loop(s, "k:9092", s.topics.events, "live",
                      min_interval_s=s.live_commit_min_interval_s)
    return validation, live


def test_by_default_only_the_live_stage_commits_early() -> None:
    validation, live = config()
    assert (validation.commit_interval_s, validation.commit_min_interval_s) == (0.1, 0.1)
    assert (live.commit_interval_s, live.commit_min_interval_s) == (0.1, 0.02)


def test_the_settings_early_commit_applies_to_the_stages_without_their_own() -> None:
    validation, live = config(commit_min_interval_s=0.05)
    assert (validation.commit_min_interval_s, live.commit_min_interval_s) == (0.05, 0.02)


def test_the_live_stages_early_commit_is_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("SHOPSTREAM_LIVE_COMMIT_MIN_INTERVAL_S", "0.05")
    assert config()[1].commit_min_interval_s == 0.05


def test_an_early_commit_never_waits_longer_than_the_interval() -> None:
    validation, live = config(commit_interval_s=0.01)
    assert (validation.commit_min_interval_s, live.commit_min_interval_s) == (0.01, 0.01)


def test_the_live_stage_can_be_made_to_wait_out_the_interval() -> None:
    _, live = config(live_commit_min_interval_s=0.1)
    assert live.commit_min_interval_s == 0.1
