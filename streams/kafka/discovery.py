"""Finding a Kafka broker: ``KAFKA_BOOTSTRAP``, a running local broker, testcontainers,
or a fresh local broker from the Apache Kafka jars, in that order."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.local.broker import BrokerError, LocalBroker
from models.errors import ShopstreamError
from models.settings import Settings


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    how: str  # "env", "local-running", "testcontainers", "local-started"


def state_file(settings: Settings) -> Path:
    return settings.data_dir / "broker.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def running_local_broker(settings: Settings) -> str | None:
    """The bootstrap of a broker started by ``shopstream broker start``, if it still runs."""
    path = state_file(settings)
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    return state["bootstrap"] if _pid_alive(int(state["pid"])) else None


def configured_bootstrap(settings: Settings) -> str | None:
    return settings.kafka_bootstrap or running_local_broker(settings)


def docker_answers() -> bool:
    """True when a Docker engine answers (the client alone is not enough)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means: no engine
        return False


@contextlib.contextmanager
def broker_for(settings: Settings, log: Callable[[str], None] = print) -> Iterator[Broker]:
    """Yield a usable broker, starting one for the duration if none is configured."""
    found = configured_bootstrap(settings)
    if found:
        yield Broker(found, "env" if settings.kafka_bootstrap else "local-running")
        return
    if docker_answers():
        from testcontainers.kafka import KafkaContainer

        log("starting Kafka with testcontainers")
        with KafkaContainer().with_kraft() as container, \
                _registered(settings, container.get_bootstrap_server(), os.getpid()):
            yield Broker(container.get_bootstrap_server(), "testcontainers")
        return
    log("no KAFKA_BOOTSTRAP and no Docker engine: starting a local Kafka broker from the jars")
    with LocalBroker() as broker:
        assert broker.process is not None
        with _registered(settings, broker.bootstrap, broker.process.pid):
            yield Broker(broker.bootstrap, "local-started")


@contextlib.contextmanager
def _registered(settings: Settings, bootstrap: str, pid: int) -> Iterator[None]:
    """While a command's own broker runs, other commands run from the same directory find it
    (``shopstream triggers tail`` beside the demo); the entry goes when the broker does."""
    path = state_file(settings)
    if path.exists():  # another broker is registered here (not running, or we'd use it)
        yield
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"bootstrap": bootstrap, "pid": pid, "managed_by": os.getpid()}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def start_background_broker(settings: Settings) -> dict[str, object]:
    """``shopstream broker start``: a broker that outlives this command."""
    if (bootstrap := running_local_broker(settings)) is not None:
        return {"bootstrap": bootstrap, "already_running": True}
    broker = LocalBroker(die_with_parent=False).start()
    assert broker.process is not None and broker.workdir is not None
    state = {
        "bootstrap": broker.bootstrap,
        "pid": broker.process.pid,
        "workdir": str(broker.workdir),
        "log": str(broker.log_file),
        "version": broker.version,
    }
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    state_file(settings).write_text(json.dumps(state, indent=2))
    return state


def stop_background_broker(settings: Settings) -> bool:
    path = state_file(settings)
    if not path.exists():
        return False
    state = json.loads(path.read_text())
    manager = state.get("managed_by")
    if manager is not None and _pid_alive(int(manager)):
        raise ShopstreamError(f"the broker here belongs to a running command (pid {manager}, "
                              "e.g. the demo); it stops with that command")
    pid = int(state["pid"])
    stopped = False
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
            stopped = True
    path.unlink()
    return stopped


__all__ = ["Broker", "BrokerError", "broker_for", "configured_bootstrap"]


def require_bootstrap(settings: Settings) -> str:
    """The broker to use, or a ShopstreamError saying how to get one."""
    bootstrap = configured_bootstrap(settings)
    if not bootstrap:
        raise ShopstreamError(
            "no Kafka broker: set KAFKA_BOOTSTRAP=host:port, or start a local one with "
            "`shopstream broker start`"
        )
    return bootstrap
