"""A worker's start-up with the embedded engine: chDB's import moves the whole process into
its package directory while it loads (``os.chdir``), so it must be loaded before any stage
thread starts. Loaded lazily by the first thread that opened the database, it made the main
thread's ``data/worker.json`` (a relative path) point into the package, and about half the
starts after a clean stop died with ``FileNotFoundError``."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import REPO

# run_worker in a fresh process, stopped at its first stage thread's start: was chDB loaded?
PROBE = """
import sys
from models.settings import load_settings
from streams import worker

def start(thread):
    print("chdb loaded at the first stage thread:", "chdb" in sys.modules, flush=True)
    raise SystemExit(0)

worker.StageThread.start = start
settings = load_settings()
assert settings.resolved_clickhouse_url.startswith("chdb://"), settings.resolved_clickhouse_url
worker.run_worker(settings, settings.kafka_bootstrap)
"""


def test_the_embedded_engine_is_loaded_before_any_stage_thread_starts(kafka, prefix, tmp_path):
    env = {**os.environ, "KAFKA_BOOTSTRAP": kafka, "SHOPSTREAM_TOPIC_PREFIX": prefix,
           "SHOPSTREAM_DATA_DIR": "data"}  # relative, as by default
    env.pop("CLICKHOUSE_URL", None)  # the embedded engine under the data directory
    done = subprocess.run([sys.executable, "-c", PROBE], env={**env, "PYTHONPATH": str(REPO)},
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "chdb loaded at the first stage thread: True" in done.stdout, done.stdout[-2000:]
