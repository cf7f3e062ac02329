"""Headless Chromium (Debian's chromium package) driven over the DevTools protocol, to read
what a live page shows as it updates. No browser download, no extra driver: the
DevTools websocket is spoken with aiohttp, which the worker already depends on."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from typing import Any

import aiohttp

from deploy.local.broker import free_port
from tests.support import wait_for

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class PageUnreadable(ConnectionError):
    """DevTools answered with an error instead of a value: the page is between documents
    (a navigation destroyed the context the expression was sent to). An ``OSError``, so
    ``wait_for`` reads it as "not met yet" and shows it if it was the last thing seen."""


class Chromium:
    def __init__(self, url: str) -> None:
        path = chromium_path()
        if path is None:
            raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="shopstream-chromium-")
        self.process = subprocess.Popen(
            [path, *FLAGS, f"--user-data-dir={self.profile}",
             f"--remote-debugging-port={self.port}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._ids = itertools.count(1)
        self.ws_url = self._page_socket(url)

    def _page_socket(self, url: str, timeout: float = 30.0) -> str:
        def page() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as r:
                    pages = [p for p in json.loads(r.read()) if p.get("type") == "page"]
            except OSError:
                return None
            return str(pages[0]["webSocketDebuggerUrl"]) if pages else None

        return wait_for(page, timeout, f"Chromium's DevTools to show the page {url}")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return asyncio.run(self._evaluate(expression))

    async def _evaluate(self, expression: str) -> Any:
        async with aiohttp.ClientSession() as session, session.ws_connect(self.ws_url) as ws:
            request_id = next(self._ids)
            await ws.send_json({"id": request_id, "method": "Runtime.evaluate",
                                "params": {"expression": expression, "returnByValue": True}})
            async for message in ws:
                body = json.loads(message.data)
                if body.get("id") == request_id:
                    if "error" in body:
                        raise PageUnreadable(f"DevTools: {body['error']}")
                    result = body["result"]
                    if "exceptionDetails" in result:
                        raise AssertionError(f"page error: {result['exceptionDetails']}")
                    return result["result"].get("value")
        raise AssertionError("DevTools closed the connection")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def require_chromium() -> None:
    """In CI a missing browser fails the test; elsewhere it skips it, saying why."""
    import pytest

    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed (make test installs Debian's chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
