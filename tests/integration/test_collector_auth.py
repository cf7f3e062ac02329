"""Keys decide the tenant, end to end: events sent with tenant A's write key are A's whatever
the payload says; the worker's views need a read (or admin) key and answer for its tenant
only; /health, /ready and /metrics stay open; the CLI passes SHOPSTREAM_API_KEY."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse

import orjson
import pytest

from models.keys import Role
from streams.cli.keys import create_key
from tests.integration.test_collector import (
    basic,
    collector_factory,  # noqa: F401 - a fixture
    post_status,
)
from tests.support import REPO, wait_for

pytestmark = pytest.mark.integration


def get(worker, path: str, key: str | None = None, method: str = "GET",
        headers: dict[str, str] | None = None):
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    return post_status(f"{worker.base_url}{path}", b"" if method == "POST" else None,
                       {**auth, **(headers or {})}, method=method)


def sql(worker, query: str, key: str):
    return get(worker, "/sql?" + urllib.parse.urlencode({"q": query}), key)


def test_keys_scope_writes_and_reads_to_their_tenant(settings, kafka, worker_factory,
                                                     collector_factory):  # noqa: F811
    write_a, _ = create_key(settings, kafka, "shop-a", Role.WRITE)
    write_b, _ = create_key(settings, kafka, "shop-b", Role.WRITE)
    read_a, read_a_record = create_key(settings, kafka, "shop-a", Role.READ)
    read_b, _ = create_key(settings, kafka, "shop-b", Role.READ)
    admin_a, _ = create_key(settings, kafka, "shop-a", Role.ADMIN)
    collector = collector_factory()
    # ad-hoc SQL for keys is the operator's choice (row filters, not a boundary: README)
    worker = worker_factory(SHOPSTREAM_AUTH="on", SHOPSTREAM_TENANT_SQL="true").start()

    def batch(prefix: str, n: int, tenant: str) -> bytes:
        return orjson.dumps({"batch": [
            {"type": "track", "event": "Product Viewed", "userId": f"{prefix}-u{i}",
             "messageId": f"{prefix}-{i}", "tenant": tenant,
             "timestamp": "2026-03-01T10:00:00Z", "properties": {"product_id": f"p{i}"}}
            for i in range(n)]})

    # A's write key cannot write for B: the payload's tenant is overruled by the key's
    assert post_status(f"{collector.url}/v1/batch", batch("a", 3, "shop-b"), basic(write_a))[0] \
        == 200
    assert post_status(f"{collector.url}/v1/batch", batch("b", 2, "shop-b"), basic(write_b))[0] \
        == 200
    count = "SELECT tenant, count() AS n FROM events GROUP BY tenant ORDER BY tenant"
    wait_for(lambda: sql(worker, count, read_a)[1].get("rows") == [["shop-a", 3]], 120,
             "tenant A's three events in ClickHouse, as A sees them")
    wait_for(lambda: sql(worker, count, read_b)[1].get("rows") == [["shop-b", 2]], 120,
             "tenant B's two events, as B sees them")
    # through a view over events, too; admin keys are held to their tenant as well
    sessions = "SELECT DISTINCT tenant FROM session_events"
    assert sql(worker, sessions, read_b)[1]["rows"] == [["shop-b"]]
    assert sql(worker, count, admin_a)[1]["rows"] == [["shop-a", 3]]
    status, body, _ = sql(worker, "SELECT tenant FROM merge(currentDatabase(), '^events$')",
                          read_a)
    assert status == 400 and "table functions" in body["error"]

    # without a key: 401; open: /health, /ready and /metrics (ready: its events are in)
    assert sql(worker, "SELECT 1", None)[0] == 401
    assert get(worker, "/recommender/train", None, method="POST")[0] == 401
    assert get(worker, "/", None)[0] == 401
    assert get(worker, "/health")[0] == 200 and get(worker, "/metrics")[0] == 200
    assert get(worker, "/ready")[:2] == (200, {"ready": True, "waiting_for": {}})
    # roles and tenants
    assert get(worker, "/recommender/train", read_a, method="POST")[0] == 403
    assert sql(worker, "SELECT 1", write_a)[0] == 403
    assert get(worker, "/report/kpis?tenant=shop-b", read_a)[0] == 403
    status, body, _ = get(worker, "/report/kpis?grain=day", read_a)
    assert status == 200 and body["rows"], body
    assert get(worker, "/revenue/breakdown?tenant=shop-b", read_a)[0] == 403
    status, body, _ = get(worker, "/revenue/breakdown", read_a)
    assert status == 200 and set(body) == {"country", "device"}, body
    assert sql(worker, "SELECT 1", "ssk_0123456789ab_" + "x" * 43)[0] == 401

    # the dashboard: the key once in its address, then a cookie for its live stream
    status, _, head = get(worker, f"/?key={read_a}")
    assert status == 200 and "shopstream_key=" in head["Set-Cookie"]
    cookie = head["Set-Cookie"].split(";")[0]
    status, live, _ = get(worker, "/live", headers={"Cookie": cookie})
    assert status == 200 and live["tenant"] == "shop-a", live

    # the CLI: SHOPSTREAM_API_KEY goes with its requests to the worker
    env = {**os.environ, "KAFKA_BOOTSTRAP": kafka, "SHOPSTREAM_TOPIC_PREFIX": settings.topic_prefix,
           "SHOPSTREAM_DATA_DIR": str(worker.data_dir)}
    command = [sys.executable, "-m", "streams.cli.main", "sql", count, "--format", "json"]
    done = subprocess.run(command, cwd=REPO, env={**env, "SHOPSTREAM_API_KEY": read_b},
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"tenant": "shop-b", "n": 2}]
    refused = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=120)
    assert refused.returncode == 2 and b"API key is needed" in refused.stderr
    # a report without --tenant reads the key's tenant, as the HTTP views do
    assert get(worker, "/key", read_b)[1] == {"tenant": "shop-b", "role": "read"}
    report = [sys.executable, "-m", "streams.cli.main", "report", "kpis", "--grain", "day",
              "--format", "json"]
    done = subprocess.run(report, cwd=REPO, env={**env, "SHOPSTREAM_API_KEY": read_b},
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [row["product_views"] for row in json.loads(done.stdout)] == [2], done.stdout
    other = subprocess.run([*report, "--tenant", "shop-a"], cwd=REPO,
                           env={**env, "SHOPSTREAM_API_KEY": read_b}, capture_output=True,
                           timeout=120)
    assert other.returncode == 2 and b"this key is for tenant 'shop-b'" in other.stderr

    # a revoked key stops working within seconds, without a restart
    subprocess.run([sys.executable, "-m", "streams.cli.main", "keys", "revoke",
                    read_a_record.key_id], cwd=REPO, env=env, check=True, timeout=120,
                   capture_output=True)
    wait_for(lambda: sql(worker, "SELECT 1", read_a)[0] == 401, 30, "the revoked key refused")
