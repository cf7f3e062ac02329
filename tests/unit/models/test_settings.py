"""Settings read from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.settings import load_settings


def test_settings_read_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("CLICKHOUSE_URL", "http://u:p@ch:8123/db")
    monkeypatch.setenv("SHOPSTREAM_TOPIC_PREFIX", "acme.")
    monkeypatch.setenv("SHOPSTREAM_DEDUPE_WINDOW_S", "60")
    s = load_settings()
    assert s.kafka_bootstrap == "k1:9092,k2:9092"
    assert s.resolved_clickhouse_url == "http://u:p@ch:8123/db"
    assert s.topics.raw == "acme.shop.events.raw" and s.topics.dlq == "acme.shop.events.dlq"
    assert s.dedupe_window_s == 60
    with pytest.raises(ValidationError, match="frozen"):
        s.topic_prefix = "other"


def test_default_clickhouse_is_embedded(monkeypatch, tmp_path):
    monkeypatch.delenv("CLICKHOUSE_URL", raising=False)
    s = load_settings(data_dir=tmp_path)
    assert s.resolved_clickhouse_url == f"chdb://{tmp_path}/clickhouse"


@pytest.mark.parametrize(("processes", "live", "sink", "children"), [
    ("1", True, True, 0),     # every stage in the worker process
    ("2", True, True, 1),     # the validation stage on a core of its own
    ("4", True, False, 1),    # the live stage stays in the worker process, which bounds it
    ("4", False, True, 1),
    ("4", False, False, 4),   # a validation-only worker: one validation process per core
])
def test_validation_processes(processes, live, sink, children):
    s = load_settings(worker_processes=processes, live_enabled=live, sink_enabled=sink)
    assert s.validation_processes == children


def test_auto_processes_are_the_usable_cores_up_to_a_limit():
    import os

    from models.settings import MAX_AUTO_PROCESSES

    s = load_settings(worker_processes="auto", live_enabled=False, sink_enabled=False)
    cores = len(os.sched_getaffinity(0))
    assert s.resolved_worker_processes == min(cores, MAX_AUTO_PROCESSES)
    assert s.validation_processes == (0 if cores == 1 else min(cores, MAX_AUTO_PROCESSES))


@pytest.mark.parametrize("value", ["0", "17", "two"])
def test_worker_processes_out_of_range_is_refused(value):
    with pytest.raises(ValidationError, match="worker_processes"):
        load_settings(worker_processes=value)


@pytest.mark.parametrize("tenant", ["my shop", "a|b", ""])
def test_a_default_tenant_the_contract_would_refuse_is_refused_at_start(tenant):
    with pytest.raises(ValidationError, match="default_tenant"):
        load_settings(default_tenant=tenant)
    assert load_settings(default_tenant="shop-1").default_tenant == "shop-1"
