"""The soak harness, short: 20,000 simulated events through one worker that is SIGKILLed
three times, with a broker restart and ClickHouse away for 10 s; every check must hold
(``tests/soak/run.py``; ``make soak`` is the long run)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.support import REPO

pytestmark = pytest.mark.integration

SHORT = ["--events", "20000", "--kills", "3", "--seed", "1", "--outage-seconds", "10",
         "--produce-rate", "350", "--points-on", "furthest", "--settle", "0",
         "--timeout", "480", "--stall-seconds", "75"]


@pytest.mark.timeout(720)
def test_soak_short_run_is_exactly_once(tmp_path):
    """Nothing lost, nothing twice: ClickHouse rows, dead letters and triggers."""
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tests.soak.run", *SHORT, "--workdir", str(tmp_path / "soak")],
            cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"}, capture_output=True,
            timeout=680)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace")
        pytest.fail(f"the soak did not finish within 680 s; it printed:\n{out[-20000:]}")
    out = result.stdout.decode(errors="replace")
    lines = [line for line in out.splitlines() if not line.startswith("%")]  # librdkafka noise
    shown = "\n".join(lines[-200:])
    print(shown)
    assert result.returncode == 0, (f"the soak failed (exit status {result.returncode}):\n"
                                    f"{shown}\n{result.stderr.decode(errors='replace')[-5000:]}")
    assert "SOAK PASSED" in out
    kills = re.search(r"kills \(SIGKILL \+ restart\):\s+(\d+)", out)
    assert kills and int(kills.group(1)) == 3, shown
    assert "ClickHouse outage:" in out, shown
    if not os.environ.get("KAFKA_BOOTSTRAP"):  # a broker the run owns is restarted once
        assert re.search(r"broker restart:\s+unreachable", out), shown
