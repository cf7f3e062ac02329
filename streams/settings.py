"""One frozen settings object, read from the environment.

Every knob of shopstream lives here. ``KAFKA_BOOTSTRAP`` and ``CLICKHOUSE_URL`` are
read without a prefix (they are what operators set first); everything else is
``SHOPSTREAM_<FIELD>``, e.g. ``SHOPSTREAM_TOPIC_PREFIX=acme.``.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Topics:
    """Topic names, all carrying the configured prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.raw = f"{prefix}shop.events.raw"
        self.events = f"{prefix}shop.events"
        self.dlq = f"{prefix}shop.events.dlq"

    def all(self) -> list[str]:
        return [self.raw, self.events, self.dlq]


class Settings(BaseSettings):
    """Runtime configuration. Frozen: build a new one with ``model_copy(update=...)``."""

    model_config = SettingsConfigDict(env_prefix="SHOPSTREAM_", frozen=True, extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP", "SHOPSTREAM_KAFKA_BOOTSTRAP"),
        description="host:port[,host:port]; unset means: find or start a broker (demo, tests).",
    )
    clickhouse_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CLICKHOUSE_URL", "SHOPSTREAM_CLICKHOUSE_URL"),
        description="chdb:///path (embedded, default under data_dir) or http(s)://user:pass@host:port/db",
    )
    clickhouse_database: str = Field(
        default="shopstream", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="database for shopstream's tables (created on migrate)",
    )
    data_dir: Path = Field(default=Path("data"), description="worker state, embedded ClickHouse")
    topic_prefix: str = Field(default="", description="prepended to every topic name")
    app_id: str = Field(default="shopstream", description="Faust app id (consumer group)")
    default_tenant: str = Field(default="default", description="tenant of events that name none")
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication: int = Field(default=1, ge=1)

    dedupe_window_s: float = Field(default=86_400, gt=0, description="messageId memory, seconds")
    max_future_skew_s: float = Field(default=86_400, ge=0, description="reject timestamps further ahead")
    max_event_bytes: int = Field(default=256 * 1024, gt=0, description="larger events are rejected")

    processing_guarantee: str = Field(
        default="exactly_once", pattern="^(exactly_once|at_least_once)$",
        description="exactly_once: outputs, table changelogs and offsets commit atomically "
        "(Kafka transactions)")
    session_timeout_s: float = Field(
        default=30.0, gt=0, description="consumer group session timeout: how soon a crashed "
        "worker's partitions move to another")

    sink_enabled: bool = Field(default=True, description="run the ClickHouse sink in the worker")
    sink_batch_rows: int = Field(default=10_000, gt=0, description="flush a partition's batch at")
    sink_batch_seconds: float = Field(default=1.0, gt=0, description="... or after this long")
    sink_max_backoff_s: float = Field(default=30.0, gt=0, description="retry ceiling when "
                                      "ClickHouse refuses a batch")

    high_value_revenue: Decimal = Field(default=Decimal("1000"), description="customer segment "
                                        "'high value' from this net revenue")
    frequent_buyer_orders: int = Field(default=5, gt=0)
    frequent_buyer_gap_days: float = Field(default=30.0, gt=0)

    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=0, le=65535)
    log_level: str = "INFO"

    @cached_property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def resolved_clickhouse_url(self) -> str:
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Read the environment; keyword overrides win (used by the CLI flags and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]
