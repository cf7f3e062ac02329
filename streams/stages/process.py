"""Stages in a process of their own, so that one worker uses the cores it is given.

The validation stage is the CPU-heavy one (the contract) and holds no state the web views
read, so a worker on a machine with two or more cores runs it in a child process
(``shopstream worker --stages validate``, started here): Python runs one thread at a time
per process, and the child takes a core of its own. The child serves ``/health`` and
``/metrics`` on a local port; the worker's own ``/health`` and ``/metrics`` include them.
A worker stopped gracefully stops its child gracefully (SIGTERM: it commits what it
handled); a worker that crashes takes its child down with it (SIGKILL on the parent's
death), as one process would be; a child that dies stops the worker with a non-zero exit
code, like a stage thread would.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from deploy.local.broker import free_port, kill_with_parent
from models.settings import Settings
from streams.kafka.follower import followers_health
from streams.kafka.transactional import StageFailed
from streams.monitoring.health import HealthBoard
from streams.monitoring.metrics import LAG_REGISTRY, VALIDATION_REGISTRY
from streams.stages.gc_tuning import settle_after_start_up
from streams.stages.validation import validation_loop

log = logging.getLogger(__name__)
PROCESS_STAGES = ("validate",)


class StageProcess:
    """A child ``shopstream worker --stages ...``: :meth:`wait` blocks until it exits and
    raises when that was not asked for; :meth:`stop` asks it to stop (SIGTERM)."""

    def __init__(self, settings: Settings, bootstrap: str, stages: tuple[str, ...],
                 index: int = 0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stages = stages
        env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "SHOPSTREAM_WEB_HOST": "127.0.0.1",
               "SHOPSTREAM_WEB_PORT": str(self.port)}
        if index:  # transactional ids derive from the instance: one of its own, stable per index
            env["SHOPSTREAM_WORKER_ID"] = f"{settings.instance_id}-{index}"
        # a session of its own: Ctrl-C in a terminal (sent to the whole process group) reaches
        # the worker, which stops this child in order (:meth:`stop`); it dies with the worker
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "worker", "--stages", ",".join(stages)],
            env=env, start_new_session=True, preexec_fn=kill_with_parent)
        self._stopping = threading.Event()

    def wait(self) -> None:
        code = self.process.wait()
        if not self._stopping.is_set() or code != 0:
            raise StageFailed(f"stage process {','.join(self.stages)} exited with {code}")

    def stop(self) -> None:
        self._stopping.set()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)


def run_stage_process(settings: Settings, bootstrap: str, stages: tuple[str, ...]) -> int:
    """The child's main: run the named stages until SIGTERM/SIGINT; serve ``/health`` and
    ``/metrics`` on ``SHOPSTREAM_WEB_HOST:SHOPSTREAM_WEB_PORT``. Returns the exit code."""
    unknown = set(stages) - set(PROCESS_STAGES)
    if unknown:
        raise ValueError(f"stages {sorted(unknown)} cannot run in a process of their own; "
                         f"choose from {', '.join(PROCESS_STAGES)}")
    board = HealthBoard()
    loop = validation_loop(settings, bootstrap, board.stage("validate", settings.topics.raw))
    server = ThreadingHTTPServer((settings.web_host, settings.web_port),
                                 _handler(board, settings.blocked_limit_s))
    threading.Thread(target=server.serve_forever, name="stage-http", daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: loop.stop())
    settle_after_start_up()
    try:
        loop.run()
        return 0
    except StageFailed as exc:
        log.error("stage process %s failed: %s", ",".join(stages), exc)
        return 1
    finally:
        server.shutdown()


def _handler(board: HealthBoard, follower_limit_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path == "/health":
                ok, stages = board.report()
                followed, followers = followers_health(follower_limit_s)
                ok = ok and followed
                body = json.dumps({"status": "ok" if ok else "unhealthy",
                                   "stages": stages, "followers": followers}).encode()
                self._send(200 if ok else 503, "application/json", body)
            elif self.path == "/metrics":
                body = generate_latest(LAG_REGISTRY) + generate_latest(VALIDATION_REGISTRY)
                self._send(200, CONTENT_TYPE_LATEST, body)
            else:
                self._send(404, "text/plain", b"not found")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # scraped every few seconds: not worth a log line each

    return Handler
