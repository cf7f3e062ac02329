"""One webhook POST against a real local HTTP server: a redirect is an answer, not followed
(urllib would follow a 302 with a GET and no body, and the trigger would count as
delivered); the export notice is held to the same rule."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from models.errors import ShopstreamError
from streams.cli.export import announce
from streams.webhooks.delivery import post


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, str, int]]]]:
    """``POST /hook`` answers 302 to ``/landing``, ``POST /ok`` 204; every request seen."""
    seen: list[tuple[str, str, int]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.append((self.command, self.path, length))
            if self.path == "/hook":
                self.send_response(302)
                self.send_header("Location", "/landing")
            else:
                self.send_response(204 if self.path == "/ok" else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET = _answer  # noqa: N815 - the http.server API

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_is_an_answer_and_is_not_followed(receiver):
    url, seen = receiver
    answer = post(f"{url}/hook", b'{"type": "cart_abandoned"}', {}, 5.0)
    assert answer.status == 302 and "redirect to /landing, not followed" in (answer.error or "")
    assert seen == [("POST", "/hook", 26)]  # no GET of /landing
    assert post(f"{url}/ok", b"{}", {}, 5.0).status == 204


def test_the_export_notice_counts_a_redirect_as_not_announced(receiver):
    url, seen = receiver
    with pytest.raises(ShopstreamError, match=r"answered 302 \(a redirect to /landing"):
        announce(f"{url}/hook", None, {"report": "kpis"}, "key-1", 1_700_000_000)
    assert [method for method, _path, _length in seen] == ["POST"]
    assert announce(f"{url}/ok", "secret", {"report": "kpis"}, "key-2", 1_700_000_000) == 204


def test_a_url_that_cannot_be_sent_is_an_answer_not_a_crash():
    answer = post("http://127.0.0.1:1/caf\u00e9", b"{}", {}, 1.0)
    assert answer.status is None and answer.error
