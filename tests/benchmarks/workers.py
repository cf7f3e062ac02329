"""Workers for the benchmark: ``shopstream worker`` processes (optionally pinned to CPUs),
waiting until their stages own every partition, their CPU time and peak memory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from deploy.local.broker import free_port
from tests.support import REPO, WorkerProcess, wait_for

# what every benchmark worker gets: the recommender's retraining schedule off (a retrain
# after 1,000 orders would land in the middle of a throughput run)
COMMON_ENV = {"SHOPSTREAM_RECO_SCHEDULE_ENABLED": "false"}


@dataclass
class BenchWorker(WorkerProcess):
    """:class:`tests.support.WorkerProcess`, optionally under ``taskset -c <cpus>``; it
    starts without waiting for anything (see :func:`wait_ready`)."""

    cpus: str | None = None

    def start(self, timeout: float = 0.0) -> BenchWorker:
        self.port = free_port()
        self.starts += 1
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "KAFKA_BOOTSTRAP": self.bootstrap,
               "SHOPSTREAM_TOPIC_PREFIX": self.prefix, "SHOPSTREAM_DATA_DIR": str(self.data_dir),
               "SHOPSTREAM_WEB_PORT": str(self.port), **COMMON_ENV, **self.env}
        pin = ["taskset", "-c", self.cpus] if self.cpus else []
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([*pin, sys.executable, "-m", "streams.cli.main", "worker"],
                                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        return self

    def health(self) -> dict[str, Any] | None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 503 still carries the report
            return json.loads(exc.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def pids(self) -> list[int]:
        """The worker's process and its descendants (the validation stage may run in a child
        process of its own: ``SHOPSTREAM_WORKER_PROCESSES``)."""
        if self.process is None:
            return []
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _stat(int(entry))
                if stat is not None:
                    parents[int(entry)] = int(stat[1])
        tree = [self.process.pid]
        for pid in tree:  # grows while it is walked: breadth first
            tree.extend(child for child, parent in parents.items() if parent == pid)
        return tree

    def cpu_seconds(self) -> list[float]:
        """User + system CPU time each of the worker's processes has used so far, the
        worker's own first."""
        return [cpu for cpu in map(process_cpu_seconds, self.pids()) if cpu is not None]

    def peak_rss_mib(self) -> list[float]:
        """Each of the worker's processes' peak resident memory so far (``VmHWM``; psutil
        is not in the venv and reads the same file), the worker's own first."""
        out: list[float] = []
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as status:
                    out.extend(int(line.split()[1]) / 1024 for line in status
                               if line.startswith("VmHWM:"))
            except OSError:
                continue
        return out


def _stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name: state, ppid, ... (None when gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time one process has used so far (None when it is gone)."""
    stat = _stat(pid)
    return None if stat is None else (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def listening_pid(port: int) -> int | None:
    """The process on this machine listening on TCP ``port`` (the broker the benchmark
    talks to, however it was started), or None: not here, or not ours to read."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as sockets:
                for line in list(sockets)[1:]:
                    fields = line.split()
                    # local address "ADDR:PORT" in hex, state 0A: listening
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                        inodes.add(fields[9])
        except OSError:
            continue
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def wait_ready(workers: list[BenchWorker], stages: dict[str, int], timeout: float = 240.0) -> None:
    """Until, across ``workers``, each stage (``validate``, ``live``, ``sink``) runs and owns
    each of its topic's partitions exactly once, each worker (and each of a worker's
    validation processes) a share of them, twice in a
    row 0.5 s apart (a group that has settled, not one in the middle of a rebalance)."""
    def owned() -> list[dict[str, list[int]]] | None:
        out = []
        for worker in workers:
            health = worker.health()
            if health is None:
                return None
            shares = {}
            for name in stages:  # a worker's validation processes report validate, validate-1...
                found = [stage for key, stage in health["stages"].items()
                         if key == name or re.fullmatch(rf"{re.escape(name)}-\d+", key)]
                # every process of a stage owns a share: one that runs but has not joined the
                # group yet would make the group rebalance in the middle of the timed run
                if not found or any(stage["state"] != "running" or not stage["partitions"]
                                    for stage in found):
                    return None
                shares[name] = sorted(p for stage in found for p in stage["partitions"])
            out.append(shares)
        return out

    def complete(shares: list[dict[str, list[int]]] | None) -> bool:
        return shares is not None and all(
            sorted(p for share in shares for p in share[name]) == list(range(count))
            and all(share[name] for share in shares)
            for name, count in stages.items())

    def settled() -> bool:
        first = owned()
        if not complete(first):
            return False
        time.sleep(0.5)
        return owned() == first

    wait_for(settled, timeout, f"{stages} owned by {len(workers)} worker(s) "
             f"({', '.join(str(w.log_path) for w in workers)})", every=0.3)
