"""``/triggers/recent`` answers for the tenant of ``?tenant=``, as ``/live`` does, whether
auth is on (the key's tenant is then the query's) or off."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson

from models.keys import ApiKey, Role
from models.settings import load_settings
from streams.web.auth import KEY
from streams.web.live import register_live_web

TRIGGERS = [{"type": "cart_abandoned", "tenant": "shop-a"},
            {"type": "cart_abandoned", "tenant": "shop-b"}]


class App:
    """What the views need of a faust app: ``page`` registers a view."""

    def __init__(self) -> None:
        self.views: dict[str, Any] = {}

    def page(self, path: str) -> Any:
        def register(view: Any) -> Any:
            self.views[path] = view
            return view
        return register


class Web:
    @staticmethod
    def bytes(body: bytes, content_type: str = "", status: int = 200) -> tuple[int, Any]:
        return status, orjson.loads(body)


class Request(dict):
    def __init__(self, **query: str) -> None:
        super().__init__()
        self.query = query


def recent(request: Request) -> tuple[int, Any]:
    app = App()
    live = SimpleNamespace(recent=TRIGGERS)
    register_live_web(app, load_settings(), live)  # type: ignore[arg-type]
    return asyncio.run(app.views["/triggers/recent"](Web, request))


def test_the_tenant_asked_for_without_auth():
    assert recent(Request(tenant="shop-b")) == (200, [TRIGGERS[1]])
    assert recent(Request(tenant="shop-c")) == (200, [])


def test_every_tenant_without_auth_when_none_is_asked_for():
    assert recent(Request()) == (200, TRIGGERS)


def test_the_keys_tenant_with_auth():
    request = Request(tenant="shop-a")  # (the auth middleware puts the key's tenant in the query)
    request[KEY] = ApiKey("k1", "shop-a", Role.READ, "00", "00", (), None, "2026-01-01T00:00:00Z")
    assert recent(request) == (200, [TRIGGERS[0]])
