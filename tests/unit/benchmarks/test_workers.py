"""The benchmark's process readings (``tests/benchmarks/workers.py``)."""

from __future__ import annotations

import os
import socket
import time

from deploy.local.broker import free_port
from tests.benchmarks.workers import listening_pid, process_cpu_seconds


def test_the_process_listening_on_a_port_is_found() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert listening_pid(server.getsockname()[1]) == os.getpid()


def test_a_port_nobody_listens_on_has_no_process() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.bind(("127.0.0.1", port))  # bound, not listening
        assert listening_pid(port) is None


def test_cpu_time_of_a_process_grows_as_it_works() -> None:
    before = process_cpu_seconds(os.getpid())
    assert before is not None
    give_up = time.monotonic() + 10.0
    while (now := process_cpu_seconds(os.getpid())) is not None and now < before + 0.05 \
            and time.monotonic() < give_up:
        sum(range(10_000))
    assert now is not None and now >= before + 0.05, f"CPU time {before} -> {now} after 10 s of work"
