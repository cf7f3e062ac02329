"""Stage health: what /health reports, and when it answers 503."""

from __future__ import annotations

from streams.monitoring.health import HealthBoard, StageHealth


def test_a_running_stage_is_healthy_until_it_fails() -> None:
    board = HealthBoard()
    stage = board.stage("validate", "raw")
    stage.running()
    stage.assigned([0, 2])
    stage.progressed(10)
    stage.committed()
    ok, stages = board.report()
    assert ok and stages["validate"]["partitions"] == [0, 2] and stages["validate"]["records"] == 10
    stage.failed("ProducerFenced")
    ok, stages = board.report()
    assert not ok and stages["validate"]["state"] == "failed"
    assert stages["validate"]["error"] == "ProducerFenced"


def test_blocked_longer_than_the_limit_is_unhealthy() -> None:
    now = [0.0]
    stage = StageHealth("sink", "events", blocked_limit_s=60, clock=lambda: now[0])
    stage.running()
    stage.blocked("ClickHouse unavailable")
    now[0] = 59.0
    assert stage.healthy
    now[0] = 61.0
    assert not stage.healthy and stage.snapshot()["blocked_reason"] == "ClickHouse unavailable"
    stage.unblocked()
    assert stage.healthy
