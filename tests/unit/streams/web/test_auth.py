"""When the worker's views need keys (what a tenant's SQL may not do: tests/unit/sinks/test_sql.py
and tests/integration/test_sql_guard.py)."""

from __future__ import annotations

import pytest

from models.settings import load_settings
from streams.web.auth import auth_enabled, sql_scope


@pytest.mark.parametrize(("auth", "host", "enabled"), [
    ("auto", "127.0.0.1", False), ("auto", "localhost", False), ("auto", "::1", False),
    ("auto", "0.0.0.0", True), ("auto", "10.1.2.3", True), ("auto", "worker.internal", True),
    ("on", "127.0.0.1", True), ("off", "0.0.0.0", False),
])
def test_auth_is_on_beyond_loopback(auth, host, enabled):
    assert auth_enabled(load_settings(auth=auth, web_host=host)) is enabled


def test_no_scope_without_a_tenant():
    assert sql_scope(None, None) == {}  # type: ignore[arg-type]  # (no client is asked)
