"""ClickHouse schema, migrations and batched idempotent writers (see the README's roadmap)."""
