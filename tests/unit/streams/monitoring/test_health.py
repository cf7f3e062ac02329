"""Stage health: what /health reports, and when it answers 503; stage processes' health and
metrics merged into the worker's."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from streams.monitoring.health import HealthBoard, StageHealth
from streams.monitoring.scrape import merge_exposition, parse_metrics, total


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


def _stage_process(status: int, body: dict) -> tuple[ThreadingHTTPServer, str]:
    """A stage process's /health, served for real on a free local port."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_two_validation_processes_are_reported_apart() -> None:
    healthy = {"state": "running", "healthy": True}
    failed = {"state": "failed", "healthy": False, "error": "boom"}
    first, first_url = _stage_process(200, {"status": "ok", "stages": {"validate": healthy}})
    second, second_url = _stage_process(503, {"status": "unhealthy",
                                              "stages": {"validate": failed}})
    try:
        board = HealthBoard([first_url, second_url])
        ok, stages = board.report()
    finally:
        first.shutdown()
        second.shutdown()
    assert not ok  # the second process's failure is not hidden under the first's name
    assert stages["validate"]["healthy"] and stages["validate-1"]["error"] == "boom"


def test_metrics_of_two_processes_stay_apart_and_add_up() -> None:
    page = "# TYPE shopstream_events_in counter\nshopstream_events_in_total {}\n"
    merged = merge_exposition([(page.format(3), None), (page.format(4), "1")]).decode()
    metrics = parse_metrics(merged)
    assert metrics["shopstream_events_in_total"] == {(): 3.0, (("process", "1"),): 4.0}
    assert total(metrics, "shopstream_events_in_total") == 7.0


def test_a_slow_stage_process_counts_as_it_last_answered_for_a_while() -> None:
    """A busy process that answers /health late is shown as it last was, with a warning; after
    the grace period, or once it refuses the connection, it is failed."""
    answer_after = {"s": 0.0}
    body = json.dumps({"status": "ok", "stages": {"validate": {
        "state": "running", "healthy": True, "last_warning": None}}}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            time.sleep(answer_after["s"])
            try:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the board stopped waiting: what this test makes happen

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    now = {"t": 100.0}
    board = HealthBoard([url], timeout_s=10.0, grace_s=30.0, clock=lambda: now["t"])
    try:
        ok, stages = board.report()
        assert ok and stages["validate"]["last_warning"] is None, stages

        board.timeout_s, answer_after["s"] = 0.2, 2.0  # busy: it answers after the board
        # stopped waiting
        now["t"] += 10
        ok, stages = board.report()
        assert ok, stages
        assert "slow to answer" in stages["validate"]["last_warning"], stages

        now["t"] += 25  # 35 s since its last answer: longer than the grace
        ok, stages = board.report()
        assert not ok and stages[f"process {url}"]["state"] == "failed", stages
    finally:
        server.shutdown()
        server.server_close()
    ok, stages = board.report()  # gone: refused at once, whatever it said before
    assert not ok and "not answering" in stages[f"process {url}"]["error"], stages


def test_a_stage_process_followers_count_in_the_workers_health() -> None:
    """A stage process reports its followers of compacted topics (its erasure list) with its
    stages; one that is not well makes the worker unhealthy, named apart from the worker's."""
    healthy = {"state": "running", "healthy": True}
    stale = {"topic": "shop.erasures", "loaded": True, "alive": True, "healthy": False,
             "error": "broker down", "error_s": 75.0}
    server, url = _stage_process(503, {"status": "unhealthy", "stages": {"validate": healthy},
                                       "followers": {"erasure list": stale}})
    try:
        ok, stages, followers = HealthBoard([url]).report_all()
    finally:
        server.shutdown()
    assert not ok and stages["validate"]["healthy"]
    assert followers == {"erasure list (process 0)": stale}


def test_ready_once_every_stage_runs_with_its_partitions_restored() -> None:
    """/ready: not while a stage starts, waits for its first partitions, rebuilds their state
    or is blocked; a stage of no consumer group (webhooks) needs no partitions."""
    board = HealthBoard()
    live, webhooks = board.stage("live", "events"), board.stage("webhooks")
    assert board.readiness({}) == (False, {"live": "starting", "webhooks": "starting"})
    live.running()
    webhooks.running()
    assert board.readiness({}) == (False, {"live": "its partitions"})
    live.restoring()  # a rebalance gave it partitions: their state is being read
    live.assigned([0, 1])
    assert board.readiness({}) == (False, {"live": "restoring"})
    live.running()
    assert board.readiness({}) == (True, {})
    live.assigned([])  # a rebalance took them all: still a member that was given its share
    assert board.readiness({}) == (True, {})
    live.failed("boom")
    live.restoring()  # (a failed stage stays failed)
    assert board.readiness({}) == (False, {"live": "failed"})


def test_not_ready_while_a_follower_or_a_stage_process_is_not() -> None:
    board = HealthBoard()
    stage = board.stage("webhooks")
    stage.running()
    unread = {"topic": "shop.keys", "loaded": False, "alive": True, "healthy": True}
    assert board.readiness({"api keys": unread}) == (False, {"api keys": "reading shop.keys"})
    assert board.readiness({"api keys": {**unread, "loaded": True}}) == (True, {})
    waiting = {"state": "running", "healthy": True, "ready": False, "waiting_for": "its partitions"}
    server, url = _stage_process(200, {"status": "ok", "stages": {"validate": waiting}})
    try:
        assert HealthBoard([url]).readiness({}) == (False, {"validate": "its partitions"})
    finally:
        server.shutdown()
    server, url = _stage_process(200, {"status": "ok", "stages": {
        "validate": {**waiting, "ready": True, "waiting_for": None}}})
    try:
        assert HealthBoard([url]).readiness({}) == (True, {})
    finally:
        server.shutdown()
