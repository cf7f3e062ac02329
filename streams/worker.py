"""Run the worker: the Faust app with every stage and the web views."""

from __future__ import annotations

import logging

import faust

from streams.app import create_app
from streams.kafka_admin import ensure_topics
from streams.settings import Settings
from streams.validation import register_validation
from streams.web import register_web

log = logging.getLogger(__name__)


def build_worker_app(settings: Settings, bootstrap: str) -> faust.App:
    app = create_app(settings, bootstrap)
    register_validation(app, settings)
    register_web(app, settings)
    return app


def run_worker(settings: Settings, bootstrap: str) -> None:
    """Blocks until SIGINT/SIGTERM; then stops cleanly, committing what it processed."""
    ensure_topics(settings, bootstrap)
    app = build_worker_app(settings, bootstrap)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
