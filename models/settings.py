"""One frozen settings object, read from the environment.

Every knob of shopstream lives here. ``KAFKA_BOOTSTRAP`` and ``CLICKHOUSE_URL`` are
read without a prefix (they are what operators set first); everything else is
``SHOPSTREAM_<FIELD>``, e.g. ``SHOPSTREAM_TOPIC_PREFIX=acme.``.
"""

from __future__ import annotations

import hashlib
import os
import socket
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.durations import parse_seconds
from models.fields import TENANT_PATTERN, TENANT_RULE

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TRIGGER_KINDS = ("cart_abandoned", "cart_recovered", "post_purchase", "winback", "segment_changed",
                 "churn_risk")
MAX_AUTO_PROCESSES = 8  # SHOPSTREAM_WORKER_PROCESSES=auto: at most this many, however many cores


class Topics:
    """Topic names, all carrying the configured prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.raw = f"{prefix}shop.events.raw"
        self.events = f"{prefix}shop.events"
        self.dlq = f"{prefix}shop.events.dlq"
        # a note of each duplicate the validation stage drops (for the data-quality report)
        self.duplicates = f"{prefix}shop.events.duplicates"
        self.recommendations = f"{prefix}shop.recommendations"
        self.trending = f"{prefix}shop.trending"
        # internal: trending weights repartitioned by product, and each partition's top lists
        self.trending_updates = f"{prefix}shop.trending.updates"
        self.trending_partials = f"{prefix}shop.trending.partials"
        self.triggers = {kind: f"{prefix}shop.triggers.{kind}" for kind in TRIGGER_KINDS}
        # webhook endpoints (compacted, one partition) and their deliveries' dead letters;
        # created by the worker's webhook stage and by `shopstream webhooks add`
        self.webhooks = f"{prefix}shop.webhooks"
        self.webhooks_dlq = f"{prefix}shop.webhooks.dlq"
        self.keys = f"{prefix}shop.keys"  # API keys (compacted): hashed secrets, tenant, role
        # erased people (compacted): a hash of tenant and id -> when, never the id itself
        self.erased = f"{prefix}shop.privacy.erased"
        self.fx_rates = f"{prefix}shop.fx.rates"  # exchange rates (compacted): date|currency

    def all(self) -> list[str]:
        return [self.raw, self.events, self.dlq, self.duplicates, self.recommendations,
                self.trending,
                self.trending_updates, self.trending_partials,
                *self.triggers.values(), self.keys, self.erased,
                self.fx_rates]

    def compacted(self) -> set[str]:
        """Topics that hold the latest value per key (cleanup.policy=compact)."""
        return {self.recommendations, self.trending, self.trending_partials, self.keys,
                self.erased, self.fx_rates}


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
    clickhouse_cluster: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="a ClickHouse server's cluster (remote_servers): the schema is created ON "
        "CLUSTER as Replicated*MergeTree tables behind Distributed ones; unset: one server "
        "or embedded")
    data_dir: Path = Field(default=Path("data"), description="worker state, embedded ClickHouse")
    topic_prefix: str = Field(default="", description="prepended to every topic name")
    app_id: str = Field(default="shopstream", description="Faust app id (consumer group)")
    default_tenant: str = Field(default="default", pattern=TENANT_PATTERN.pattern,
                                description=f"tenant of events that name none ({TENANT_RULE})")
    topic_partitions: int = Field(default=12, ge=1, description="partitions of the topics "
                                  "shopstream creates: the most workers that can share a stage")
    topic_replication: int = Field(default=1, ge=1)

    dedupe_window_s: float = Field(default=86_400, gt=0, description="messageId memory, seconds")
    max_future_skew_s: float = Field(default=86_400, ge=0, description="reject timestamps further ahead")
    max_event_bytes: int = Field(default=256 * 1024, gt=0, description="larger events are rejected")
    enrichment: bool = Field(default=True, description="the validation stage adds device, bot flag, "
                             "country and source class to each event (context.enrichment)")
    geoip_database: Path | None = Field(
        default=None, description="a MaxMind GeoLite2 / GeoIP2 City or Country database "
        "(.mmdb): enrichment takes country and city from it; unset: geoip2fast's shipped "
        "country data")
    ip_handling: str = Field(default="truncate", pattern=r"^(truncate|drop|keep)$", description="after "
                             "enrichment, context.ip is truncated (IPv4 /24, IPv6 /48), dropped or kept")
    pii_keys: str = Field(default="email,phone,name,address", description="comma-separated property "
                          "keys that are personal data: hashed or removed in events (empty: none)")
    pii_handling: str = Field(default="hash", pattern=r"^(hash|remove)$", description="what "
                              "becomes of a personal property: a SHA-256 hash of it, or nothing")
    retention_events_days: int = Field(default=365, ge=0, description="raw events are kept this "
                                       "many days after they were received; 0: forever")
    retention_rollups_days: int = Field(default=0, ge=0, description="order lines and rollups "
                                        "keep this many days of event time; 0: forever")
    pii_hash_key: str | None = Field(default=None, description="a secret: personal values are "
                                     "hashed with HMAC-SHA256 under it (unset: plain SHA-256)")
    event_aliases: Path | None = Field(
        default=None, description="a JSON file of more aliases (other names of flat types, "
        "events and properties), merged into the default table of models/flat.py")

    commit_interval_s: float = Field(
        default=0.1, gt=0, description="how often each stage commits its Kafka transaction "
        "(outputs, state changelogs and consumed offsets together): outputs become visible to "
        "read_committed consumers then, so it bounds latency; shorter means more transactions")
    commit_min_interval_s: float | None = Field(
        default=None, gt=0, description="a stage that has read all its input commits once this "
        "long has passed since its transaction began, without waiting out commit_interval_s (less "
        "latency at low rates; more transactions); unset: every commit waits the interval")
    live_commit_min_interval_s: float = Field(
        default=0.02, gt=0, description="the same for the live stage alone (it ignores "
        "commit_min_interval_s), on by default: its input arrives in bursts (each commit of a "
        "validation stage makes its events visible at once), so once this long has passed since "
        "its transaction began and a poll finds less than a full batch, it commits instead of "
        "holding the burst for the rest of the interval; commit_interval_s or more: off")
    worker_processes: str = Field(
        default="auto", pattern=r"^(auto|[1-9]|1[0-6])$", description="1: every stage in the "
        "worker process; 2 or more: the validation stage in child processes (one when the "
        "worker also runs the live stage or the sink, which stay in the worker process; this "
        "many when it runs the validation stage alone); auto: the cores the worker may use "
        "(taskset), at most 8")
    worker_id: str | None = Field(
        default=None, description="this worker instance's name, stable across its restarts "
        "(its transactional ids derive from it, so a restarted worker fences what its killed "
        "predecessor left open); default: host name + data directory")
    session_timeout_s: float = Field(
        default=30.0, gt=0, description="consumer group session timeout: how soon a crashed "
        "worker's partitions move to another")

    sink_enabled: bool = Field(default=True, description="run the ClickHouse sink in the worker")
    blocked_limit_s: float = Field(default=60.0, gt=0, description="/health answers 503 when a "
                                   "stage has been blocked this long (e.g. ClickHouse away)")
    sink_batch_rows: int = Field(default=10_000, gt=0, description="flush a partition's batch at")
    sink_batch_seconds: float = Field(default=1.0, gt=0, description="... or after this long")
    sink_max_backoff_s: float = Field(default=30.0, gt=0, description="retry ceiling when "
                                      "ClickHouse refuses a batch")

    high_value_revenue: Decimal = Field(default=Decimal("1000"), description="customer segment "
                                        "'high value' from this net revenue")
    frequent_buyer_orders: int = Field(default=5, gt=0)
    frequent_buyer_gap_days: float = Field(default=30.0, gt=0)

    cart_abandon_after_s: float = Field(
        default=1800.0, gt=0, validation_alias=AliasChoices(
            "CART_ABANDON_AFTER", "SHOPSTREAM_CART_ABANDON_AFTER_S"),
        description="a cart with no checkout or order this long after its last activity is "
        "abandoned (seconds, event time)")
    cart_recovery_window_s: float = Field(
        default=7 * 86_400.0, gt=0, validation_alias=AliasChoices(
            "CART_RECOVERY_WINDOW", "SHOPSTREAM_CART_RECOVERY_WINDOW_S"),
        description="an order this soon after an abandonment recovers the cart (seconds)")
    allowed_lateness_s: float = Field(default=300.0, ge=0, description="cart activity older "
                                      "than the watermark less this is late: counted, not merged")
    trending_half_life_h: float = Field(default=6.0, gt=0, description="trending products: a "
                                        "view or add counts half as much after this many hours")
    trending_weight_view: float = Field(default=1.0, ge=0)
    trending_weight_add: float = Field(default=3.0, ge=0)
    trending_weight_purchase: float = Field(default=5.0, ge=0)
    trending_floor: float = Field(default=0.01, ge=0, description="products whose score decays "
                                  "below this are dropped")
    trending_publish_s: float = Field(default=10.0, gt=0, description="shop.trending is "
                                      "published this often")
    trending_top_n: int = Field(default=20, gt=0, description="products per published scope")
    post_purchase_after_days: float = Field(default=3.0, gt=0)
    winback_after_days: float = Field(default=30.0, gt=0)
    live_enabled: bool = Field(default=True, description="run the live-state agent in the worker")
    live_tick_s: float = Field(default=0.25, gt=0, description="how often idle partitions' "
                               "deadlines are checked")
    funnel_snapshot_s: float = Field(default=60.0, gt=0, description="live funnel windows are "
                                     "written to ClickHouse this often")

    reco_days: float = Field(default=90.0, gt=0, description="recommender: days of interactions "
                             "read, counted back from the latest event")
    reco_weight_view: float = Field(default=1.0, ge=0)
    reco_weight_add: float = Field(default=3.0, ge=0)
    reco_weight_purchase: float = Field(default=5.0, ge=0)
    reco_weight_refund: float = Field(default=5.0, ge=0, description="subtracted per refunded line")
    reco_half_life_days: float = Field(default=30.0, gt=0, description="interaction weight halves "
                                       "every this many days of age")
    reco_factors: int = Field(default=64, gt=0)
    reco_regularization: float = Field(default=0.05, ge=0)
    reco_alpha: float = Field(default=10.0, gt=0, description="confidence = 1 + alpha * weight")
    reco_iterations: int = Field(default=15, gt=0)
    reco_seed: int = Field(default=7, description="ALS random state (same data, same model)")
    reco_holdout: str = Field(default="auto", description="evaluation: held-out span, e.g. 7d, "
                              "12h; auto = min(7d, 20% of the data window)")
    reco_gate_metric: str = Field(default="precision@10", pattern=r"^(precision|recall|map|ndcg)@10$")
    reco_gate_tolerance: float = Field(default=0.05, ge=0, le=1, description="a candidate may be "
                                       "this fraction worse than the active model and still win")
    reco_publish_n: int = Field(default=10, gt=0, description="top-N published per active user")
    reco_publish_active_days: float = Field(default=7.0, gt=0, description="publish for users "
                                            "active within this many days of the latest event")
    reco_retrain_interval_s: float = Field(default=86_400.0, gt=0, description="embedded mode: "
                                           "the worker retrains this often")
    reco_retrain_after_orders: int = Field(default=1_000, gt=0, description="... or after this "
                                           "many new orders")
    reco_schedule_check_s: float = Field(default=60.0, gt=0, description="how often the worker "
                                         "checks whether a retrain is due")
    reco_schedule_enabled: bool = Field(default=True, description="embedded mode: retrain in the "
                                        "worker on the schedule above")
    reco_candidates: str = Field(default="all", description="recommender: model families the "
                                 "selection tries (all, or a comma list; popularity always)")
    reco_search_seconds: float = Field(default=30.0, ge=0, description="time budget of the model "
                                       "selection; candidates left when it is spent are skipped")
    reco_repeat: str = Field(default="auto", description="repeat purchases: auto, never, always, "
                             "or per tenant, e.g. 'pets=always,*=never'")
    reco_ab_share: float = Field(default=0.5, gt=0, lt=1, description="A/B test: share of "
                                 "shoppers who get the candidate version")
    reco_ab_days: float = Field(default=7.0, gt=0, description="A/B report: clicks and purchases "
                                "of recommended products within this many days count")

    predict_horizon_days: float = Field(default=90.0, gt=0, description="customer lifetime "
                                        "model: forecast (and evaluation holdout) span in days")
    predict_churn_rule_days: float = Field(default=90.0, gt=0, description="the baseline the "
                                           "model is judged against: a customer with no order "
                                           "for more than this many days is called churned")
    predict_churn_threshold: float = Field(default=0.5, gt=0, lt=1, description="a churn_risk "
                                           "trigger when a customer's risk crosses this")
    predict_churn_min_revenue: float = Field(default=100.0, ge=0, description="... and the "
                                             "customer's net revenue so far is at least this")
    experiment_alpha: float = Field(default=0.05, gt=0, lt=1, description="experiments: "
                                    "significance level (two-sided)")
    experiment_power: float = Field(default=0.8, gt=0, lt=1, description="experiments: power "
                                    "the minimum sample size is computed for")
    experiment_mde: float = Field(default=0.10, gt=0, description="experiments: the relative "
                                  "change in conversion a test must be able to detect")
    experiment_srm_alpha: float = Field(default=0.001, gt=0, lt=1, description="experiments: "
                                        "a sample ratio mismatch is flagged below this p-value")
    schedule: str = Field(default="", description="scheduled exports, besides `shopstream "
                          "schedules add`: REPORT:daily|weekly|monthly[:FORMAT], comma-separated")
    export_dir: Path | None = Field(default=None, description="where scheduled exports are "
                                    "written (default: DATA_DIR/exports)")
    export_webhook_url: str | None = Field(default=None, description="a URL told of each "
                                           "scheduled export (a signed JSON POST)")
    export_webhook_secret: str | None = Field(default=None, description="HMAC-SHA256 key that "
                                              "signs those POSTs")

    collector_host: str = Field(default="127.0.0.1", description="the collector listens here "
                                "(0.0.0.0: every interface)")
    collector_port: int = Field(default=8080, ge=0, le=65535, description="the collector's port")
    collector_ack_timeout_s: float = Field(
        default=5.0, gt=0, description="the collector answers 503 when Kafka has not "
        "acknowledged a request's events within this long")
    collector_trusted_proxies: str = Field(
        default="", description="addresses or networks (comma list, e.g. 10.0.0.0/8) whose "
        "X-Forwarded-For the collector believes when it stamps the client IP")
    collector_default_rate: float = Field(default=1000.0, gt=0, description="events per second "
                                          "a write key may send to one collector, unless the "
                                          "key says otherwise")
    auth: str = Field(default="auto", pattern=r"^(auto|on|off)$", description="API keys on the "
                      "worker's views (and the collector always): auto = on when the worker "
                      "listens beyond loopback")
    api_key: str | None = Field(default=None, description="the key the CLI sends to a worker "
                                "(SHOPSTREAM_API_KEY)")
    tenant_sql: bool = Field(default=False, description="/sql answers API keys (held to their "
                             "tenant by row filters, which a determined query can read "
                             "around): only where every key holder may see every tenant")
    reporting_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="money "
                                    "in reports and live figures is in this currency "
                                    "(models/currency.py), unless a tenant has its own below")
    reporting_currencies: str = Field(default="", description="per-tenant reporting "
                                      "currencies, e.g. 'acme=EUR,globex=GBP'")
    fx_base_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="exchange "
                                  "rates (`shopstream fx load`) are units of this currency per "
                                  "unit of the rate's currency; its own rate is always 1")
    automation_followup_days: float = Field(default=7.0, gt=0, description="report automation: "
                                            "orders this many days after a trigger followed it")
    webhooks_enabled: bool = Field(default=True, description="deliver triggers to the webhook "
                                   "endpoints (`shopstream webhooks add`) from the worker")
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="a delivery attempt "
                                     "without an answer this long failed (and is retried)")
    webhook_retry_for_s: float = Field(default=3600.0, gt=0, description="a trigger is retried "
                                       "this long after its first attempt, then dead-lettered")
    webhook_backoff_initial_s: float = Field(default=1.0, gt=0, description="the first retry's "
                                             "backoff ceiling; it doubles per attempt (full jitter)")
    webhook_backoff_max_s: float = Field(default=300.0, gt=0, description="backoff ceiling")

    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=0, le=65535)
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL "
                           "(any case)")

    @property
    def resolved_worker_processes(self) -> int:
        if self.worker_processes != "auto":
            return int(self.worker_processes)
        return max(1, min(len(os.sched_getaffinity(0)), MAX_AUTO_PROCESSES))

    @property
    def validation_processes(self) -> int:
        """Child processes running the validation stage: none with one worker process; one
        when the worker also runs the live stage or the sink (those stay in the worker
        process, which then bounds the worker's rate); else one per worker process."""
        processes = self.resolved_worker_processes
        if processes < 2:
            return 0
        return 1 if self.live_enabled or self.sink_enabled else processes

    @cached_property
    def instance_id(self) -> str:
        """:attr:`worker_id`, else the host name and a digest of the data directory: two
        workers on one host need two data directories anyway (each owns its state)."""
        if self.worker_id:
            return self.worker_id
        digest = hashlib.sha1(str(self.data_dir.resolve()).encode()).hexdigest()[:8]
        return f"{socket.gethostname()}-{digest}"

    @field_validator("cart_abandon_after_s", "cart_recovery_window_s", "allowed_lateness_s",
                     mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        """Seconds, or a duration with a unit: ``90s``, ``30m``, ``12h``, ``7d``."""
        if isinstance(value, str):
            try:
                return parse_seconds(value)
            except ValueError:
                return value  # pydantic reports it
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        """A level Python's logging knows, upper-cased (``debug`` is ``DEBUG``)."""
        if isinstance(value, str):
            level = value.strip().upper()
            if level not in LOG_LEVELS:
                raise ValueError(f"not a log level: choose from {', '.join(LOG_LEVELS)}")
            return level
        return value

    @field_validator("clickhouse_cluster", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty ``SHOPSTREAM_CLICKHOUSE_CLUSTER`` (a template's default) means unset."""
        return None if isinstance(value, str) and not value.strip() else value

    @cached_property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def resolved_clickhouse_url(self) -> str:
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def model_registry(self) -> Path:
        """Where trained recommender models' artefacts are kept."""
        return self.data_dir / "models"


def load_settings(**overrides: object) -> Settings:
    """Read the environment; keyword overrides win (used by the CLI flags and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]
