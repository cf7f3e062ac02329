"""When the worker's views need keys, and what a tenant's SQL may not do."""

from __future__ import annotations

import pytest

from models.settings import load_settings
from sinks.errors import ReadOnlyViolation
from streams.web.auth import auth_enabled, sql_scope


@pytest.mark.parametrize(("auth", "host", "enabled"), [
    ("auto", "127.0.0.1", False), ("auto", "localhost", False), ("auto", "::1", False),
    ("auto", "0.0.0.0", True), ("auto", "10.1.2.3", True), ("auto", "worker.internal", True),
    ("on", "127.0.0.1", True), ("off", "0.0.0.0", False),
])
def test_auth_is_on_beyond_loopback(auth, host, enabled):
    assert auth_enabled(load_settings(auth=auth, web_host=host)) is enabled


def test_no_scope_without_a_tenant_and_no_table_functions_with_one():
    assert sql_scope(None, None, "SELECT * FROM file('/etc/passwd')") == {}  # type: ignore[arg-type]
    for query in ("SELECT * FROM merge(currentDatabase(), 'events')",
                  "SELECT 1 FROM events e JOIN remote ('h', db.events) r ON 1"):
        with pytest.raises(ReadOnlyViolation, match="table functions"):
            sql_scope(None, "shop-a", query)  # type: ignore[arg-type]
