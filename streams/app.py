"""The Faust application: one per worker process, built from the settings."""

from __future__ import annotations

import faust

from models.settings import Settings


def faust_app_id(settings: Settings) -> str:
    """Consumer group and internal-topic prefix; the topic prefix keeps deployments apart."""
    return f"{settings.topic_prefix}{settings.app_id}"


def create_app(settings: Settings, bootstrap: str) -> faust.App:
    """Build the Faust app. Agents, tables and views are registered by their modules."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    return faust.App(
        faust_app_id(settings),
        broker=[f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()],
        store="memory://",
        datadir=str(settings.data_dir / "worker"),
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        # the app holds no agents or tables: the stages run on their own transactional loops;
        # what the app produces (trending snapshots) is last-writer-wins on a compacted topic
        processing_guarantee="at_least_once",
        producer_acks=-1,
        producer_compression_type="lz4",
        producer_linger_ms=5,
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        broker_commit_every=10_000,
        broker_commit_interval=settings.commit_interval_s,
        stream_buffer_maxsize=16_384,
        table_standby_replicas=0,
        # the stages rebuild their state from the committed changelogs themselves; Faust's
        # own table recovery compares offsets that transactional writes make meaningless
        # after another worker was killed mid-transaction
        recovery_consistency_check=False,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
    )
