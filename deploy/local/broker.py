"""Start, stop and inspect a local single-node Kafka broker (KRaft, broker+controller).

The jars come from Maven Central through ``mvn dependency:copy-dependencies`` and
are cached outside the repository (``$SHOPSTREAM_CACHE_DIR``, default
``~/.cache/shopstream``), so only the first start downloads anything. Each
broker gets free ports and its own temporary directory for data and logs.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from models.errors import ShopstreamError

KAFKA_VERSION = os.environ.get("SHOPSTREAM_KAFKA_VERSION", "4.1.1")
_HERE = Path(__file__).resolve().parent


class BrokerError(ShopstreamError):
    """The local broker could not be resolved, started or reached."""


def cache_dir() -> Path:
    base = os.environ.get("SHOPSTREAM_CACHE_DIR") or Path.home() / ".cache" / "shopstream"
    return Path(base)


def _log(message: str) -> None:
    print(f"[kafka] {message}", file=sys.stderr, flush=True)


def resolve_kafka_jars(version: str = KAFKA_VERSION) -> Path:
    """Return a folder with the broker's jars, resolving them with Maven on first use."""
    lib = cache_dir() / f"kafka-{version}" / "lib"
    marker = lib / ".complete"
    if marker.exists():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with open(lib.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one resolver at a time across processes
        if marker.exists():
            return lib
        if shutil.which("mvn") is None:
            raise BrokerError("Maven (mvn) is needed to fetch the Kafka jars; install maven")
        _log(f"resolving Apache Kafka {version} jars with Maven into {lib} (first run only)")
        shutil.rmtree(lib, ignore_errors=True)
        started = time.monotonic()
        result = subprocess.run(
            [
                "mvn", "-B", "-q", "-f", str(_HERE / "pom.xml"),
                "dependency:copy-dependencies",
                f"-Dkafka.version={version}",
                f"-DoutputDirectory={lib}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BrokerError(
                f"mvn could not resolve org.apache.kafka:kafka_2.13:{version}:\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        marker.write_text(version)
        _log(f"resolved {len(list(lib.glob('*.jar')))} jars in {time.monotonic() - started:.0f}s")
    return lib


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise BrokerError("Java 17+ is needed to run the local Kafka broker; install a JDK")
    return found


SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data_dir}
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
log.cleaner.dedupe.buffer.size=8388608
"""


# the garbage collector as Apache Kafka's own start script sets it (kafka-run-class.sh): G1
# aiming at 20 ms pauses instead of its default 200 ms
KAFKA_GC_OPTIONS = ("-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
                    "-XX:+ExplicitGCInvokesConcurrent")


@dataclass
class LocalBroker:
    """One broker process. ``start()`` returns once it answers metadata requests."""

    port: int = 0
    workdir: Path | None = None
    version: str = KAFKA_VERSION
    heap: str = "768m"
    gc_options: tuple[str, ...] = KAFKA_GC_OPTIONS
    die_with_parent: bool = True  # False for a broker meant to outlive this process
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "logs" / "server.log"

    def start(self, timeout: float = 90.0) -> LocalBroker:
        lib = resolve_kafka_jars(self.version)
        self.port = self.port or free_port()
        controller_port = free_port()
        self.workdir = Path(self.workdir or tempfile.mkdtemp(prefix="shopstream-kafka-"))
        data_dir = self.workdir / "data"
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        props = self.workdir / "server.properties"
        props.write_text(
            SERVER_PROPERTIES.format(
                port=self.port, controller_port=controller_port, data_dir=data_dir
            )
        )
        classpath = f"{lib}/*"
        java = _java()
        jvm = [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            *self.gc_options,
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={logs}",
            f"-Dlog4j2.configurationFile={_HERE / 'log4j2.properties'}",
            "-cp",
            classpath,
        ]
        cluster_id = _cluster_id()
        fmt = subprocess.run(
            [*jvm, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(props)],
            capture_output=True,
            text=True,
        )
        if fmt.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed: {fmt.stdout}{fmt.stderr}")
        stdout = open(logs / "stdout.log", "wb")
        self.process = subprocess.Popen(
            [*jvm, "kafka.Kafka", str(props)],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=terminate_with_parent if self.die_with_parent else None,
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout
        admin = None
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerError(
                    f"Kafka exited with {self.process.returncode}; see {self.log_file}\n"
                    + _tail(self.workdir / "logs" / "stdout.log")  # type: ignore[operator]
                )
            try:
                if admin is None:  # first wait for the port, so the client logs no refusals
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    admin = AdminClient({"bootstrap.servers": self.bootstrap})
                metadata = admin.list_topics(timeout=2)
                if metadata.brokers:
                    return
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                last_error = exc
            time.sleep(0.2)
        self.stop()
        raise BrokerError(f"Kafka did not answer within {timeout:.0f}s ({last_error}); see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def cleanup(self) -> None:
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def terminate_with_parent() -> None:
    """In the child before exec: SIGTERM it when the parent dies (Linux), so a crashed
    test run or demo never leaves a broker behind."""
    _signal_on_parent_death(signal.SIGTERM)


def kill_with_parent() -> None:
    """In the child before exec: SIGKILL it when the parent dies (Linux): a part of a
    process that crashed crashes with it."""
    _signal_on_parent_death(signal.SIGKILL)


def _signal_on_parent_death(sig: int) -> None:
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
