"""Migration 9: the enrichment columns, and migration 6's session views with the bot flag."""

from __future__ import annotations

from sinks.rows import ENRICHED_COLUMNS
from sinks.schema import MIGRATIONS
from sinks.schema.cluster import LOCAL, for_cluster, layout_of
from sinks.schema.enrichment import (
    ADD_ENRICHMENT,
    ENRICHMENT_STATEMENTS,
    FUNNEL_DAILY_WITHOUT_BOTS,
    SESSION_EVENTS_WITH_BOTS,
    SESSION_SUMMARY_WITH_BOTS,
)
from sinks.schema.sessions import SESSION_EVENTS_VIEW, SESSION_SUMMARY_VIEW


def test_migration_9_adds_every_enriched_column_and_replaces_the_session_views():
    [nine] = [m for m in MIGRATIONS if m.version == 9]
    assert nine.statements == ENRICHMENT_STATEMENTS
    for column in ENRICHED_COLUMNS:
        assert f"ADD COLUMN IF NOT EXISTS {column} " in ADD_ENRICHMENT
    assert "is_bot UInt8" in ADD_ENRICHMENT


def test_the_session_views_keep_migration_6s_rule_with_the_flag_added():
    assert SESSION_EVENTS_WITH_BOTS.startswith("\nCREATE OR REPLACE VIEW session_events AS")
    stripped = SESSION_EVENTS_WITH_BOTS.replace(", is_bot, device_type, country, source_class", "")
    assert stripped.replace("CREATE OR REPLACE VIEW", "CREATE VIEW IF NOT EXISTS") == (
        SESSION_EVENTS_VIEW)
    assert "max(e.is_bot) AS is_bot" in SESSION_SUMMARY_WITH_BOTS
    assert SESSION_SUMMARY_WITH_BOTS.count("\n") == SESSION_SUMMARY_VIEW.count("\n") + 4
    assert "WHERE is_bot = 0" in FUNNEL_DAILY_WITHOUT_BOTS


def test_on_a_cluster_the_columns_go_to_the_replicas_and_the_distributed_table():
    layout = layout_of(MIGRATIONS)
    local, front = for_cluster(ADD_ENRICHMENT, "c1", "shopstream", layout)
    assert local.startswith(f"ALTER TABLE events{LOCAL} ON CLUSTER c1 ADD COLUMN IF NOT EXISTS")
    assert front.startswith("ALTER TABLE events ON CLUSTER c1 ADD COLUMN IF NOT EXISTS")
