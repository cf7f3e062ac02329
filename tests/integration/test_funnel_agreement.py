"""The live funnel and ClickHouse's ``report funnel`` count the same sessions.

Seeded simulated traffic, with the session id taken out of a third of the sessions, goes
once through the pure live funnel (in event-time order, as the worker sees it) and once
into the real ClickHouse engine (chDB, through ``ingest``). Both must apply the one session
rule of ``models/funnel.py``: per stage the session counts are equal, and so are the
sessions themselves (ids and funnel levels). No Kafka broker is needed.
"""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from models.funnel import FUNNEL_STAGES, GAP_PREFIX, SESSION_GAP_MS
from models.serde import dumps, event_to_json
from models.validation import Rules, validate_bytes
from sinks.connection import connect
from sinks.migrations import migrate
from sinks.reports import ReportParams, run_report
from sinks.schema import MIGRATIONS
from sinks.writer import ClickHouseWriter
from streams.live.events import live_event
from streams.live.funnel import Funnel
from streams.sources.ingest import ingest
from streams.sources.simulator import SimConfig, simulate

START = datetime(2026, 2, 1, tzinfo=UTC)
NOW = START + timedelta(days=1)
# 2 events a second for 6,000 events: 50 minutes of event time, so shoppers' session-less
# runs cross 30-minute marks and returning shoppers come back after gaps of either side
EVENTS, RATE = 6_000, 2.0


def without_session(obj: dict[str, Any]) -> dict[str, Any]:
    """The event as a client that sends no session id would (flat or Segment-style)."""
    out = {k: v for k, v in obj.items() if k != "session_id"}
    if isinstance(out.get("context"), dict):
        out["context"] = {k: v for k, v in out["context"].items() if k != "sessionId"}
    return out


def session_of(obj: dict[str, Any]) -> str:
    return str(obj.get("session_id") or (obj.get("context") or {}).get("sessionId") or "")


def canonical_traffic() -> list[dict[str, Any]]:
    """Valid, de-duplicated canonical events in stream order; a third of the sessions
    (chosen by their id) lose their session id."""
    out, seen = [], set()
    for sim in simulate(SimConfig(seed=11, rate=RATE, users=300, start=START), EVENTS):
        value = sim.value
        if isinstance(value, dict) and zlib.crc32(session_of(value).encode()) % 3 == 0:
            value = without_session(value)
        raw = value if isinstance(value, bytes) else dumps(value)
        result = validate_bytes(raw, Rules(), NOW)
        if result.event is None or result.event.messageId in seen:
            continue
        seen.add(result.event.messageId)
        out.append(orjson.loads(event_to_json(result.event)))
    return out


@pytest.fixture(scope="module")
def traffic() -> list[dict[str, Any]]:
    return canonical_traffic()


def test_traffic_has_sessionless_runs_worth_telling_apart(traffic):
    sessionless = [e for e in traffic if not (e.get("context") or {}).get("sessionId")]
    assert 0.2 < len(sessionless) / len(traffic) < 0.5
    times = sorted(e["timestamp"] for e in traffic)
    span = datetime.fromisoformat(times[-1]) - datetime.fromisoformat(times[0])
    assert span > timedelta(milliseconds=SESSION_GAP_MS)


def live_funnel(traffic: list[dict[str, Any]]) -> tuple[Funnel, dict[str, int]]:
    """The live funnel fed in event-time order; sessions per stage over all its windows."""
    funnel = Funnel()
    for obj in traffic:
        funnel.apply(live_event(obj))
    counts = [0] * len(FUNNEL_STAGES)
    for window in funnel.windows.values():
        counts = [a + b for a, b in zip(counts, window, strict=True)]
    return funnel, dict(zip(FUNNEL_STAGES, counts, strict=True))


def load(client, traffic: list[dict[str, Any]], tmp_path) -> str:
    """``ingest`` the canonical events; returns their tenant."""
    source = tmp_path / "traffic.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in traffic) + b"\n")
    summary = ingest(source, "jsonl", ClickHouseWriter(client), Rules(),
                     tmp_path / "dead.jsonl", now=lambda: NOW)
    assert (summary.events, summary.invalid) == (len(traffic), 0)
    (tenant,) = {e["tenant"] for e in traffic}
    return tenant


def report_funnel(client, tenant: str, include_bots: bool = False) -> dict[str, int]:
    days = run_report(client, "funnel", ReportParams(tenant=tenant, include_bots=include_bots)).records()
    return {stage: sum(day[stage] for day in days) for stage in FUNNEL_STAGES}


def test_live_funnel_and_clickhouse_count_the_same_sessions(traffic, clickhouse, tmp_path):
    funnel, live = live_funnel(traffic)
    gap_sessions = [s for (_, s) in funnel.sessions if s.startswith(GAP_PREFIX)]
    assert len(gap_sessions) > 50 and live["visit"] > 500 and live["purchase"] > 0
    tenant = load(clickhouse, traffic, tmp_path)

    assert report_funnel(clickhouse, tenant) == live
    # the same sessions, by id, reaching the same stage
    levels = dict(clickhouse.query(
        "SELECT session_id, funnel_level FROM session_summary WHERE tenant = {t:String}",
        parameters={"t": tenant}).result_rows)
    assert levels == {s: state.level for (_, s), state in funnel.sessions.items()}


def added_event_columns(migrations: Any) -> list[str]:
    """The later migrations' statements that add columns to ``events`` (9: enrichment, 10:
    alias and group ids) and the ``users`` table (12: identify calls' traits): a database of
    before them still takes today's rows with these."""
    return [statement for migration in migrations for statement in migration.statements
            if statement.lstrip().startswith(("ALTER TABLE events ADD COLUMN",
                                              "CREATE TABLE IF NOT EXISTS users"))]


def test_a_database_with_data_upgraded_to_the_session_rule_agrees(traffic, chdb_url, tmp_path):
    """Rows stored before migration 6 (bucket ids for session-less events) are sessionised
    by the same rule once it is applied; re-running its statements changes nothing."""
    _, live = live_funnel(traffic)
    client = connect(chdb_url, f"test_{uuid.uuid4().hex[:10]}")
    try:
        migrate(client, MIGRATIONS[:5])
        for statement in added_event_columns(MIGRATIONS[5:]):  # what today's writer fills
            client.command(statement)
        tenant = load(client, traffic, tmp_path)
        # the 30-minute buckets of before (whose sessions carry no bot flag)
        assert report_funnel(client, tenant, include_bots=True) != live
        assert [m.version for m in migrate(client)] == [m.version for m in MIGRATIONS[5:]]
        for migration in MIGRATIONS[5:]:
            for statement in migration.statements:
                client.command(statement)
        assert report_funnel(client, tenant) == live
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{client.database}`")
