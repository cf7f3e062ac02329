"""``/sql`` and API keys: row filters cannot hold an ad-hoc query to one tenant (its own
errors can show another tenant's values: a cast that fails on the other tenant's rows, a
throwIf), so a key gets ad-hoc SQL only where the operator says every key holder may see
every tenant (SHOPSTREAM_TENANT_SQL)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from models.keys import ApiKey, Role
from models.settings import load_settings
from streams.monitoring.health import HealthBoard
from streams.web.auth import KEY
from streams.web.views import register_web
from tests.unit.streams.web.test_live import App, Request, Web

# a database that holds no table with a tenant column (what sql_scope asks about)
CLIENT = SimpleNamespace(database="d", query=lambda *a, **kw: SimpleNamespace(result_rows=[]))


def sql(request: Request, **settings: Any) -> tuple[int, Any]:
    app = App()
    register_web(app, load_settings(auth="off", **settings), HealthBoard(),  # type: ignore[arg-type]
                 database=lambda: CLIENT)  # type: ignore[arg-type,return-value]
    return asyncio.run(app.views["/sql"](Web, request))


def keyed(**query: str) -> Request:
    request = Request(**query)
    request[KEY] = ApiKey("k1", "shop-a", Role.ADMIN, "00", "00", (), None, "2026-01-01T00:00:00Z")
    return request


def test_a_key_gets_no_ad_hoc_sql_unless_the_operator_serves_it():
    status, body = sql(keyed(q="SELECT 1"))
    assert status == 403 and "not served to API keys" in body["error"]
    assert "SHOPSTREAM_TENANT_SQL" in body["error"]
    # served: the query goes on to the guard (here: refused for what it is, not for the key)
    assert sql(keyed(q="DROP TABLE events"), tenant_sql=True) == (
        400, {"error": "only read-only queries run here (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN), "
                       "not DROP"})
    # no key (auth off, the machine itself): the guard alone
    assert sql(Request(q="DROP TABLE events"))[0] == 400


def test_a_value_json_has_no_form_for_is_answered_as_text():
    """An ad-hoc query may return a type JSON has none for (an IPv6 column): its text, not a
    500."""
    from ipaddress import IPv6Address

    from sinks.report_types import Table
    from streams.web.views import _table_response

    status, body = _table_response(Web, Table(["ip", "n"], [[IPv6Address("::1"), 2]]))
    assert (status, body["rows"]) == (200, [["::1", 2]])
