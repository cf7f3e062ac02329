"""Run the worker: the Faust app with every stage, the ClickHouse sink and the web views."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import faust
from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry

from models.logs import limit_library_logs
from models.settings import Settings
from sinks.kafka_sink import KafkaSink
from sinks.metrics import REGISTRY as SINK_REGISTRY
from sinks.privacy import names_erased
from sinks.writer import EVENT_ROWS, EVENTS, dropping
from streams.app import create_app, faust_app_id
from streams.kafka.admin import ensure_topics
from streams.kafka.transactional import StageFailed
from streams.monitoring.health import HealthBoard
from streams.monitoring.metrics import LAG_REGISTRY, REGISTRY, VALIDATION_REGISTRY
from streams.privacy.suppression import followed
from streams.stages.gc_tuning import settle_after_start_up
from streams.stages.live import LiveStage, live_changelog, live_loop
from streams.stages.live_timers import register_live_timers
from streams.stages.process import StageProcess
from streams.stages.trending import TrendingBoard, trending_changelog, trending_loop
from streams.stages.validation import dedupe_topic, validation_loop
from streams.web.live import register_live_web
from streams.web.views import register_web
from streams.webhooks.endpoints import ensure_webhook_topics
from streams.webhooks.stage import WebhookStage

log = logging.getLogger(__name__)


class DatabaseHandle:
    """Opens the database on first use and again after a failure (chDB may be locked)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Client:
        from sinks.database import open_database

        with self._lock:
            if self._client is None:
                self._client = open_database(self.settings)
            return self._client


def build_worker_app(settings: Settings, bootstrap: str, board: HealthBoard,
                     live: LiveStage | None, database: DatabaseHandle | None = None,
                     registries: list[CollectorRegistry] | None = None,
                     erased: Callable[[str, str], bool] | None = None) -> faust.App:
    """The Faust app: the web views and the timers (gauges, trending snapshots, funnel
    snapshots, the recommender schedule). The stages run beside it in threads
    (:func:`run_worker`)."""
    app = create_app(settings, bootstrap)

    @app.task
    async def quiet_library_logs() -> None:
        """Once Faust has set up logging: the client libraries' repeated lines, rate-limited."""
        limit_library_logs()

    register_web(app, settings, board, database, registries)
    if live is not None:
        register_live_timers(app, settings, live, board.stages.get("trending"))
        register_live_web(app, settings, live, database)
        if database is not None:
            register_funnel_snapshot(app, settings, live, database)
    if database is not None:
        register_recommender(app, settings, bootstrap, database, erased)
    return app


def register_funnel_snapshot(app: faust.App, settings: Settings, live: LiveStage,
                             database: DatabaseHandle) -> None:
    """Every minute, the live funnel's changed windows go to ClickHouse (kept for the next
    try when ClickHouse refuses)."""
    import asyncio
    from datetime import UTC, datetime

    from sinks.live_funnel import snapshot_rows, write_snapshot

    @app.timer(interval=settings.funnel_snapshot_s)
    async def funnel_snapshot() -> None:
        windows = live.take_dirty_funnels()
        rows = snapshot_rows(windows, datetime.now(UTC))
        try:
            await asyncio.to_thread(lambda: write_snapshot(database(), rows))
        except Exception as exc:  # ClickHouse away: try these windows again next time
            live.mark_dirty(windows)
            log.warning("live funnel snapshot not written (%d windows kept): %s", len(windows), exc)


def register_recommender(app: faust.App, settings: Settings, bootstrap: str,
                         database: DatabaseHandle,
                         erased: Callable[[str, str], bool] | None = None) -> None:
    """Serving endpoints always (an ``erased`` person answered as one never seen); in
    embedded mode also the retraining schedule (with a ClickHouse server, training is a job
    of its own: cron or a Kubernetes CronJob)."""
    import asyncio

    from recommender.runner import JobRunner
    from recommender.serving import RecommendationService
    from sinks.connection import is_embedded
    from streams.sdk.sender import recommendation_sender
    from streams.web.recommender import register_recommender_web

    runner = JobRunner(database, settings,
                       recommendation_sender(bootstrap, settings.topics.recommendations))
    register_recommender_web(app, RecommendationService(database, settings, erased), runner)
    if not (settings.reco_schedule_enabled and is_embedded(settings.resolved_clickhouse_url)):
        return

    @app.timer(interval=settings.reco_schedule_check_s, on_leader=False)
    async def retrain_schedule() -> None:
        try:
            await asyncio.to_thread(runner.retrain_if_due)
        except Exception:  # the schedule must never take the worker down
            log.exception("recommender: the retraining schedule failed")


class StageThread:
    """A stage running in a thread of the worker. When it dies unexpectedly the whole worker
    stops (SIGTERM to itself) and exits non-zero, so that a supervisor restarts it."""

    def __init__(self, name: str, run: Callable[[], None], stop: Callable[[], None]) -> None:
        self.name, self._run, self.stop = name, run, stop
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> StageThread:
        self.thread.start()
        return self

    def _main(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - reported, then the worker stops
            self.error = exc
            log.error("stage %s died: %s; stopping the worker", self.name, exc,
                      exc_info=not isinstance(exc, StageFailed))
            os.kill(os.getpid(), signal.SIGTERM)

    def wait(self, timeout: float) -> bool:
        """Wait for the stage to finish (after :meth:`stop`); False if it did not in time."""
        self.thread.join(max(timeout, 0.0))
        return not self.thread.is_alive()


# How long a stopping worker waits for all its stages together: a clean stop lets each
# commit what it handled; after a stage died the worker restarts anyway (transactions
# abort what is open, the sinks' replays are deduplicated), so it does not wait long on a
# Kafka client that a broker restart left stuck (seen: a sink's synchronous offset commit).
STOP_LIMIT_S = 120.0
STOP_AFTER_FAILURE_S = 15.0


def stop_stages(stages: list[StageThread], clock: Callable[[], float] = time.monotonic) -> int:
    """Ask every stage to stop at once, then wait for them within one deadline: the exit
    status (1 when a stage died or did not stop in time, else 0)."""
    died = [stage.name for stage in stages if stage.error is not None]
    for stage in stages:
        stage.stop()
    limit = STOP_AFTER_FAILURE_S if died else STOP_LIMIT_S
    deadline = clock() + limit
    late = [stage.name for stage in stages if not stage.wait(deadline - clock())]
    if late:
        log.error("stages %s did not stop within %.0f s%s", ", ".join(late), limit,
                  f" (after {', '.join(died)} died)" if died else "")
    # (a stage that died while stopping counts too)
    return 1 if late or any(stage.error is not None for stage in stages) else 0


def run_worker(settings: Settings, bootstrap: str) -> None:
    """Blocks until SIGINT/SIGTERM; then stops cleanly: the validation and live stages commit
    what they handled, the sink writes and commits what it holds. Exits non-zero when a
    stage died or did not stop cleanly."""
    from sinks.connection import load_engine
    from streams.cli.queries import worker_state_file

    load_engine(settings.resolved_clickhouse_url)  # before any thread: it moves the process
    ensure_topics(settings, bootstrap,
                  compacted_extra=[dedupe_topic(settings), live_changelog(settings),
                                   trending_changelog(settings)])
    ensure_webhook_topics(settings, bootstrap)
    settle_after_start_up()  # before the stages start: what start-up made is not walked again
    board = HealthBoard()
    database = DatabaseHandle(settings)
    # the live stage's trending (with live off, no stage of it is listed on /health)
    trending_board = TrendingBoard(settings, bootstrap, board.stage(
        "trending-board", settings.topics.trending_partials)) if settings.live_enabled else None
    live = LiveStage(settings, trending_board) if settings.live_enabled else None
    if live is not None:
        board.stage("trending", settings.topics.trending_updates)
    stages: list[StageThread] = []
    if settings.validation_processes:  # the contract's CPU work on cores of its own
        for index in range(settings.validation_processes):
            child = StageProcess(settings, bootstrap, ("validate",), index)
            board.remotes.append(child.url)
            stages.append(StageThread("validate-process" + (f"-{index}" if index else ""),
                                      child.wait, child.stop).start())
        registries = [REGISTRY, LAG_REGISTRY, SINK_REGISTRY]
    else:
        validation = validation_loop(settings, bootstrap,
                                     board.stage("validate", settings.topics.raw))
        stages.append(StageThread("validate", validation.run, validation.stop).start())
        registries = [REGISTRY, LAG_REGISTRY, SINK_REGISTRY, VALIDATION_REGISTRY]
    suppression = followed(settings, bootstrap)  # of erased people (streams/privacy)
    erased = suppression.erased
    app = build_worker_app(settings, bootstrap, board, live, database, registries, erased)
    if live is not None:
        live_stage = live_loop(settings, bootstrap, live,
                               board.stage("live", settings.topics.events))
        stages.append(StageThread("live", live_stage.run, live_stage.stop).start())
        trending = trending_loop(settings, bootstrap, board.stages["trending"])
        stages.append(StageThread("trending", trending.run, trending.stop).start())
        assert trending_board is not None
        stages.append(StageThread("trending-board", trending_board.run,
                                  trending_board.stop).start())
    if settings.sink_enabled:
        sink = KafkaSink(
            bootstrap, settings.topics.events, group=f"{faust_app_id(settings)}-clickhouse-sink",
            connect=database, batch_rows=settings.sink_batch_rows,
            batch_seconds=settings.sink_batch_seconds, max_backoff=settings.sink_max_backoff_s,
            health=board.stage("sink", settings.topics.events, settings.blocked_limit_s),
            dlq_topic=settings.topics.dlq, session_timeout_s=settings.session_timeout_s,
            rows=dropping(EVENT_ROWS, names_erased(  # no erased person's rows
                EVENTS, erased, anyone=lambda: len(suppression) > 0)),
            shared_warning=split_database_warning(settings),
        )
        stages.append(StageThread("sink", sink.run, sink.stop).start())
        for automation_sink in automation_sinks(settings, bootstrap, board, database, erased,
                                                anyone=lambda: len(suppression) > 0):
            stages.append(StageThread(automation_sink.name, automation_sink.run,
                                      automation_sink.stop).start())
    if settings.webhooks_enabled:
        webhooks = WebhookStage(settings, bootstrap, board.stage("webhooks"), erased=erased)
        stages.append(StageThread("webhooks", webhooks.run, webhooks.stop).start())
    state = worker_state_file(settings)
    state.write_text(json.dumps({
        "pid": os.getpid(), "web": f"http://{settings.web_host}:{settings.web_port}",
    }))
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        stopped = stop_stages(stages)
        code = code or stopped
        state.unlink(missing_ok=True)
    exit_even_if_threads_linger(code, stages_alive=any(s.thread.is_alive() for s in stages))


def automation_sinks(settings: Settings, bootstrap: str, board: HealthBoard,
                     database: DatabaseHandle, erased: Callable[[str, str], bool],
                     anyone: Callable[[], bool]) -> list[KafkaSink]:
    """The trigger topics -> ``triggers``, and the dead-letter topics -> ``dead_letters`` with
    the notes of duplicates -> ``duplicates``, exactly once, by the same sink as the events
    (a consumer group each); a trigger or dead letter naming an erased person is left out."""
    from sinks.metrics import SINK_TOPIC_LAG
    from sinks.privacy import payload_names_erased
    from sinks.trigger_rows import DEAD_LETTERS, TRIGGER_ROWS, TRIGGERS, dead_letter_rows

    topics = settings.topics
    common: dict[str, Any] = dict(
        connect=database, batch_rows=settings.sink_batch_rows,
        batch_seconds=settings.sink_batch_seconds, max_backoff=settings.sink_max_backoff_s,
        session_timeout_s=settings.session_timeout_s,
        lag=lambda topic, partition: SINK_TOPIC_LAG.labels(topic, str(partition)),
        shared_warning=split_database_warning(settings))
    return [
        KafkaSink(bootstrap, list(topics.triggers.values()),
                  group=f"{faust_app_id(settings)}-clickhouse-triggers",
                  rows=dropping(TRIGGER_ROWS, names_erased(TRIGGERS, erased, anyone)),
                  dlq_topic=topics.dlq, name="trigger-sink",
                  health=board.stage("trigger-sink", f"{topics.prefix}shop.triggers.*",
                                     settings.blocked_limit_s), **common),
        # its own topics' records it cannot write are logged, never dead-lettered again
        KafkaSink(bootstrap, [topics.dlq, topics.webhooks_dlq, topics.duplicates],
                  group=f"{faust_app_id(settings)}-clickhouse-dead-letters",
                  rows=dropping(dead_letter_rows(settings.default_tenant, topics.duplicates),
                                payload_names_erased(DEAD_LETTERS, erased, anyone)),
                  dlq_topic=None,
                  name="dead-letter-sink",
                  health=board.stage("dead-letter-sink", topics.dlq, settings.blocked_limit_s),
                  **common),
    ]


def split_database_warning(settings: Settings) -> str | None:
    """What a sink says when another worker's sink shares its topics, if this worker writes an
    embedded ClickHouse: each database then holds only its worker's share."""
    from sinks.connection import is_embedded

    if not is_embedded(settings.resolved_clickhouse_url):
        return None
    return ("another worker's sink holds the others, and with embedded ClickHouse each worker "
            "writes its share into its own database, so no database (and no report) holds "
            "the whole shop: give the workers one ClickHouse server (CLICKHOUSE_URL), or run "
            "the sinks in one worker only (SHOPSTREAM_SINK_ENABLED=false on the others)")


def exit_even_if_threads_linger(code: int, stages_alive: bool = False) -> None:
    """Faust can leave its consumer thread running when a step of its shutdown fails (seen:
    a second end-of-transaction commit at stop), and a stage that did not stop in time may
    be inside a Kafka client call that never returns. Everything that matters is flushed and
    committed or aborted by now, and Kafka transactions make an aborted tail safe to
    replay, so do not hang on it."""
    stuck = [t.name for t in threading.enumerate()
             if t is not threading.main_thread() and t.is_alive()
             and (not t.daemon or stages_alive)]
    if stuck:
        log.warning("threads still running after the worker stopped (%s); exiting", stuck)
        logging.shutdown()
        os._exit(code)
    raise SystemExit(code)
