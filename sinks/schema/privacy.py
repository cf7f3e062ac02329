"""The audit of privacy requests (migration 13): one row per ``shopstream privacy erase`` or
``export``. It names the person only by a hash (``subject_hash``: tenant and user id, as the
suppression list does) and never holds what was erased or exported; it has no person
column, so an erasure never removes its own audit trail."""

from __future__ import annotations

from sinks.schema.types import TIME

PRIVACY_REQUESTS = f"""
CREATE TABLE IF NOT EXISTS privacy_requests (
    request_id       String,
    tenant           LowCardinality(String),
    action           LowCardinality(String),
    requested_by     String,
    requested_at     {TIME},
    subject_hash     String,
    identities       UInt32,
    rows             Map(String, UInt64),
    rollups_rebuilt  Array(String),
    completed_at     {TIME}
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(requested_at)
ORDER BY (tenant, requested_at, request_id)
"""
