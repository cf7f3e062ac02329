"""Integration fixtures: one real Kafka broker per test process (`make test` runs two, with
pytest-xdist), fresh topics per test.

The broker is found the way shopstream finds one: ``KAFKA_BOOTSTRAP``, else
testcontainers when a Docker engine answers, else a local KRaft broker from the
Apache Kafka jars. A test that cannot get a broker fails; it never skips.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

# every test makes its own topics on one small broker: 3 partitions each keep that light
# (production's default is 12); workers started by the tests inherit it
os.environ.setdefault("SHOPSTREAM_TOPIC_PARTITIONS", "3")

from models.settings import Settings, load_settings
from streams.kafka.admin import ensure_topics
from streams.kafka.discovery import broker_for
from tests.support import WorkerProcess, delete_topics


@pytest.fixture(scope="session")
def kafka(tmp_path_factory) -> Iterator[str]:
    stack = contextlib.ExitStack()
    # a data directory of its own: the session's broker is not registered in the checkout
    here = load_settings(data_dir=tmp_path_factory.mktemp("broker"))
    try:
        broker = stack.enter_context(broker_for(here, log=print))
    except Exception as exc:  # noqa: BLE001 - turned into a test failure with the cause
        stack.close()
        pytest.fail(f"no Kafka broker for the integration tests: {exc}", pytrace=False)
    with stack:
        yield broker.bootstrap


@pytest.fixture
def prefix(request) -> Iterator[str]:
    """The test's topic prefix; its topics are deleted after it (after its workers stopped),
    so that the broker the whole run shares does not grow a test's worth of partitions at a
    time (hundreds by the end, each costing it work on every request)."""
    name = f"t{uuid.uuid4().hex[:10]}."
    yield name
    if "kafka" in request.fixturenames:
        left = delete_topics(request.getfixturevalue("kafka"), name)
        if left:
            print(f"topics not deleted after the test: {', '.join(left)}")


@pytest.fixture
def settings(kafka: str, prefix: str, tmp_path) -> Settings:
    s = load_settings(kafka_bootstrap=kafka, topic_prefix=prefix, data_dir=tmp_path / "data")
    ensure_topics(s, kafka)
    return s


@pytest.fixture
def worker_factory(kafka: str, prefix: str, tmp_path) -> Iterator:
    workers: list[WorkerProcess] = []

    def make(**env: str) -> WorkerProcess:
        env = {"SHOPSTREAM_SESSION_TIMEOUT_S": "6", **env}
        worker = WorkerProcess(kafka, prefix, tmp_path / "data", env=env)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.kill()


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory) -> str:
    """One embedded ClickHouse per test process (chDB allows one path per process)."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def clickhouse(chdb_url):
    """A fresh, migrated database on the real ClickHouse engine."""
    from sinks.connection import connect
    from sinks.migrations import migrate

    client = connect(chdb_url, f"test_{uuid.uuid4().hex[:10]}")
    migrate(client)
    yield client
    client.command(f"DROP DATABASE IF EXISTS `{client.database}`")
