"""Report parameters travel to the worker and back unchanged; the rules come from settings;
what a worker answers with an error is one line."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from models.errors import ShopstreamError
from models.settings import load_settings
from streams.cli.main import main
from streams.cli.queries import params_from_query, report_params, report_query, worker_request


def test_parameters_round_trip_through_the_worker_query():
    settings = load_settings(experiment_alpha=0.01, experiment_mde=0.2)
    params = report_params(settings, tenant="t1", start=datetime(2026, 3, 1, tzinfo=UTC),
                           grain="week", limit=5)
    query = report_query(params)
    assert "experiment_rules" not in query and "segment_rules" not in query
    assert params_from_query({k: str(v) for k, v in query.items()}, settings) == params
    assert (params.experiment_rules.alpha, params.experiment_rules.mde) == (0.01, 0.2)


def test_no_grain_leaves_each_report_its_default():
    settings = load_settings()
    assert report_params(settings).grain is None
    assert params_from_query({}, settings).grain is None


def test_bots_and_dimension_travel_to_the_worker_and_back():
    settings = load_settings()
    for include_bots, by in ((True, "country"), (False, None)):
        params = report_params(settings, include_bots=include_bots, by=by)
        query = report_query(params)
        assert ("include_bots" in query) is include_bots
        assert params_from_query({k: str(v) for k, v in query.items()}, settings) == params


@pytest.mark.parametrize(("query", "named"), [
    ({"limit": "-1"}, "limit"), ({"limit": "x"}, "limit"),
    ({"start": "yesterday"}, "start"), ({"as_of": "junk"}, "as_of"),
    ({"tenant": "bad tenant"}, "tenant"), ({"min_support": "nan"}, "min_support"),
    ({"min_support": "2"}, "min_support")])
def test_the_workers_report_parameters_follow_the_command_lines_rules(query, named):
    """/report/NAME's query is held to the options' rules: a value they refuse is a
    ValueError naming it (a 400), not a query ClickHouse refuses (a 500)."""
    with pytest.raises(ValueError, match=f"^{named}: "):
        params_from_query(query, load_settings())


@pytest.fixture
def failing_worker():
    """A worker that answers every request with ``(status, content type, body)``."""
    answer: list[tuple[int, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            status, kind, body = answer[0]
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_worker_error_that_is_not_json_is_one_line_naming_the_status(failing_worker, monkeypatch,
                                                                       capsys):
    url, answer = failing_worker
    answer.append((500, "text/plain", b"Code: 457. DB::Exception: BAD_QUERY_PARAMETER"))
    monkeypatch.delenv("SHOPSTREAM_API_KEY", raising=False)
    with pytest.raises(ShopstreamError, match=r"^the worker at http://127\.0\.0\.1:\d+ answered "
                                              r"500 Internal Server Error$"):
        worker_request(url, "GET", "/report/products", {"limit": 5})
    monkeypatch.setattr("streams.cli.queries.owning_worker", lambda settings: url)
    assert main(["report", "products"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (f"shopstream report: the worker at {url} answered 500 "
                                    "Internal Server Error")
    assert "Traceback" not in err and "Exception" not in err


def test_a_worker_error_in_json_is_its_message(failing_worker, monkeypatch):
    url, answer = failing_worker
    answer.append((400, "application/json", b'{"error": "unknown grain \'year\'"}'))
    monkeypatch.delenv("SHOPSTREAM_API_KEY", raising=False)
    with pytest.raises(ShopstreamError, match=r"^unknown grain 'year'$"):
        worker_request(url, "GET", "/report/kpis", {})
    answer[0] = (200, "text/html", b"<html>not a worker</html>")
    with pytest.raises(ShopstreamError, match="answered /report/kpis with something that is not JSON"):
        worker_request(url, "GET", "/report/kpis", {})
