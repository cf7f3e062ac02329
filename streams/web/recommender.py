"""The worker's recommender endpoints.

For shops: ``GET /recommendations/{user}?n=10`` and ``GET /similar/{product}?n=10``.
For the CLI (embedded ClickHouse is owned by the worker, so the recommender
commands run here when a worker is up): ``GET /recommender/models``,
``GET /recommender/evaluate``, ``POST /recommender/train``,
``POST /recommender/activate/{version}``, and for A/B tests
``POST /recommender/ab/start/{version}``, ``POST /recommender/ab/stop`` and
``GET /recommender/ab/report``. All take ``?tenant=``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import faust
from faust.web import View

from models.errors import ShopstreamError
from models.serde import dumps
from recommender.job import SplitChoice
from recommender.runner import JobRunner
from recommender.serving import NotFound, RecommendationService

log = logging.getLogger(__name__)


def _json(web: Any, body: Any, status: int = 200) -> Any:
    return web.bytes(dumps(body), content_type="application/json", status=status)


def _choice(query: Any) -> SplitChoice:
    leave_last = query.get("leave_last")
    return SplitChoice(query.get("holdout", "auto"), int(leave_last) if leave_last else None)


async def _run(web: Any, work: Callable[[], Any]) -> Any:
    """Run blocking work (ClickHouse, training) off the event loop and answer in JSON."""
    try:
        return _json(web, await asyncio.to_thread(work))
    except NotFound as exc:
        return _json(web, {"error": str(exc)}, 404)
    except (ShopstreamError, ValueError) as exc:
        return _json(web, {"error": str(exc)}, 400)


def _with_log(job: Callable[[Callable[[str], None]], Any]) -> dict[str, Any]:
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        log.info("recommender: %s", line)

    return {"result": job(progress), "log": lines}


def register_recommender_web(app: faust.App, service: RecommendationService,
                             runner: JobRunner) -> None:
    @app.page("/recommendations/{user}")
    async def recommendations_view(web: Any, request: Any, user: str) -> Any:
        q = request.query
        return await _run(web, lambda: service.recommend(user, int(q.get("n", 10)), q.get("tenant")))

    @app.page("/similar/{product}")
    async def similar_view(web: Any, request: Any, product: str) -> Any:
        q = request.query
        return await _run(web, lambda: service.similar(product, int(q.get("n", 10)), q.get("tenant")))

    @app.page("/recommender/models")
    async def models_view(web: Any, request: Any) -> Any:
        return await _run(web, lambda: runner.models(request.query.get("tenant")))

    @app.page("/recommender/evaluate")
    async def evaluate_view(web: Any, request: Any) -> Any:
        q = request.query
        return await _run(web, lambda: _with_log(
            lambda progress: runner.evaluate(q.get("tenant"), _choice(q), progress)))

    @app.page("/recommender/train")
    class TrainView(View):
        async def post(self, request: Any, **kwargs: Any) -> Any:
            q = request.query
            return await _run(self, lambda: _with_log(
                lambda progress: runner.train(q.get("tenant"), _choice(q), progress)))

    @app.page("/recommender/activate/{version}")
    class ActivateView(View):
        async def post(self, request: Any, version: str, **kwargs: Any) -> Any:
            q = request.query
            return await _run(self, lambda: _with_log(
                lambda progress: runner.activate(q.get("tenant"), int(version), progress)))

    @app.page("/recommender/ab/start/{version}")
    class AbStartView(View):
        async def post(self, request: Any, version: str, **kwargs: Any) -> Any:
            q = request.query
            return await _run(self, lambda: _with_log(
                lambda progress: runner.ab_start(q.get("tenant"), int(version), progress)))

    @app.page("/recommender/ab/stop")
    class AbStopView(View):
        async def post(self, request: Any, **kwargs: Any) -> Any:
            q = request.query
            return await _run(self, lambda: _with_log(
                lambda progress: runner.ab_stop(q.get("tenant"), progress)))

    @app.page("/recommender/ab/report")
    async def ab_report_view(web: Any, request: Any) -> Any:
        q = request.query
        return await _run(web, lambda: _with_log(
            lambda progress: runner.ab_report(q.get("tenant"), progress)))
