"""Where events come from besides live shops: the seeded simulator, JSON-lines / CSV / REES46
files, and ``ingest`` (a file straight into ClickHouse)."""
