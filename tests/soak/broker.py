"""The soak's broker: ``KAFKA_BOOTSTRAP`` when set (then it cannot be restarted), else a
local KRaft broker from the Apache Kafka jars (``deploy/local/broker.py``) that this run
owns and can stop and start again on the same port and the same data directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from deploy.local.broker import LocalBroker


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when this process dies (Linux)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class SoakBroker:
    def __init__(self, workdir: Path, log: Callable[[str], None] = print) -> None:
        self.external = os.environ.get("KAFKA_BOOTSTRAP") or None
        self.local: LocalBroker | None = None
        self.workdir = workdir
        self.log = log
        self._command: list[str] | None = None

    @property
    def bootstrap(self) -> str:
        if self.external:
            return self.external
        assert self.local is not None
        return self.local.bootstrap

    @property
    def can_restart(self) -> bool:
        return self.local is not None

    def start(self) -> SoakBroker:
        if self.external:
            self.log(f"broker: KAFKA_BOOTSTRAP={self.external} (not ours: it is not restarted)")
            return self
        started = time.monotonic()
        self.local = LocalBroker(workdir=self.workdir).start()
        assert self.local.process is not None
        # the exact command line, to start the same broker again after a stop
        cmdline = Path(f"/proc/{self.local.process.pid}/cmdline").read_bytes()
        self._command = [part.decode() for part in cmdline.split(b"\0") if part]
        self.log(f"broker: local KRaft broker on {self.bootstrap}, data in {self.workdir} "
                 f"(up in {time.monotonic() - started:.1f}s)")
        return self

    def stop(self) -> None:
        if self.local is not None:
            self.local.stop()

    def restart(self, down_s: float, timeout: float = 240.0) -> float:
        """Stop the broker (SIGTERM, as an operator would), leave it down ``down_s``, start it
        again on the same port and data. Returns the seconds it was unreachable."""
        assert self.local is not None and self._command is not None
        started = time.monotonic()
        self.local.stop()
        self.log(f"broker: stopped after {time.monotonic() - started:.1f}s; down for {down_s:.0f}s")
        time.sleep(down_s)  # the outage itself, on purpose
        deadline = time.monotonic() + timeout
        attempt, last = 0, ""
        while time.monotonic() < deadline:
            attempt += 1
            log_file = open(self.workdir / "logs" / "stdout.log", "ab")
            process = subprocess.Popen(self._command, stdout=log_file, stderr=subprocess.STDOUT,
                                       start_new_session=True, preexec_fn=_die_with_parent)
            self.local.process = process
            last = self._wait_ready(process, deadline)
            if not last:
                down = time.monotonic() - started
                self.log(f"broker: back on {self.bootstrap} (attempt {attempt}); "
                         f"unreachable for {down:.1f}s")
                return down
            self.log(f"broker: start attempt {attempt} failed ({last}); trying again")
            time.sleep(1)
        raise AssertionError(f"the broker did not come back on {self.bootstrap} within "
                             f"{timeout:.0f}s (last: {last}); see {self.workdir / 'logs'}")

    def _wait_ready(self, process: subprocess.Popen[bytes], deadline: float) -> str:
        """'' once the broker answers metadata requests; else why not (it exited, timed out)."""
        from confluent_kafka.admin import AdminClient

        assert self.local is not None
        admin = None
        last = "no answer yet"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return f"exited with {process.returncode}"
            try:
                if admin is None:
                    socket.create_connection(("127.0.0.1", self.local.port), timeout=1).close()
                    admin = AdminClient({"bootstrap.servers": self.bootstrap})
                if admin.list_topics(timeout=2).brokers:
                    return ""
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                last = str(exc)
            time.sleep(0.2)
        process.terminate()
        return f"timed out ({last})"
