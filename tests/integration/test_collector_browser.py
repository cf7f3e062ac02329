"""The browser SDK in headless Chromium against a real collector, broker and worker: a shop
on another origin is clicked through (home, product, cart, log-in, order, thank-you page);
every event lands in shop.events once, with one anonymous id and one session throughout. A
revoked key, or a page at an origin its key does not allow, has its events dropped."""

from __future__ import annotations

import functools
import http.server
import threading
from collections import Counter
from pathlib import Path

import orjson
import pytest

from deploy.local.broker import free_port
from models.keys import Role
from streams.cli.keys import create_key
from streams.collector.keystore import write_record
from tests.browser import Chromium, require_chromium
from tests.integration.test_collector import collector_factory  # noqa: F401 - a fixture
from tests.support import read_topic, wait_for, wait_until_equal, wait_until_stable

pytestmark = pytest.mark.integration

SNIPPET = """<script>
!function(){var s=window.shopstream=window.shopstream||[];if(s.ready)return;
["load","track","page","identify","alias","reset","flush","productsSearched","productViewed",
 "productClicked","productAdded","productRemoved","cartViewed","checkoutStarted",
 "orderCompleted","couponApplied"].forEach(function(m){s[m]=function(){
 s.push({m:m,a:[].slice.call(arguments),t:new Date().toISOString()});return s}});}();
shopstream.load("%(key)s", {host: "%(host)s", flushInterval: %(interval)d});
</script>"""
SHOE = '{product_id: "p1", name: "Trail shoe", price: 59.90, currency: "EUR", quantity: 1}'
PAGES = {
    # the SDK arrives late: the calls before it are queued by the snippet; the network
    # fails the first two requests, so the batch is retried
    "index.html": """<title>Home</title>
<script>var realFetch = window.fetch, failures = 0;
window.fetch = function (url, options) {
  if (failures < 2) { failures += 1; return Promise.reject(new TypeError("offline")); }
  return realFetch(url, options); };</script>
%(snippet_fast)s
<script>shopstream.page(); shopstream.productsSearched("trail shoes");
setTimeout(function () { var s = document.createElement("script");
  s.src = "%(host)s/sdk.js"; document.head.appendChild(s); }, 300);</script>
<a id="next" href="product.html">Trail shoe</a>""",
    "product.html": """<title>Trail shoe</title>%(snippet_slow)s
<script src="%(host)s/sdk.js"></script>
<script>shopstream.page(); shopstream.productViewed(""" + SHOE + """);</script>
<button id="add" onclick='shopstream.productAdded(""" + SHOE + """, "cart-1")'>Add</button>
<a id="next" href="cart.html">Cart</a>""",
    "cart.html": """<title>Cart</title>%(snippet_slow)s
<script src="%(host)s/sdk.js"></script>
<script>shopstream.page();
shopstream.cartViewed({cart_id: "cart-1", products: [""" + SHOE + """]});
function order() {
  shopstream.checkoutStarted({cart_id: "cart-1", currency: "EUR", value: 59.90,
                              products: [""" + SHOE + """]});
  shopstream.orderCompleted({order_id: "o-1", cart_id: "cart-1", currency: "EUR",
                             subtotal: 59.90, total: 59.90, products: [""" + SHOE + """]});
}</script>
<button id="login" onclick='shopstream.identify("user-1", {email: "ada@example.com"})'>
Log in</button>
<button id="order" onclick="order()">Order</button>
<a id="next" href="thanks.html">Done</a>""",
    "thanks.html": """<title>Thank you</title>%(snippet_fast)s
<script src="%(host)s/sdk.js"></script><script>shopstream.page("Thank you");</script>""",
}
EXPECTED = Counter({"page": 4, "Products Searched": 1, "Product Viewed": 1, "Product Added": 1,
                    "Cart Viewed": 1, "identify": 1, "Checkout Started": 1,
                    "Order Completed": 1})


def serve_shop(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def test_a_shopper_clicks_through_and_every_event_lands_once(
        settings, kafka, tmp_path, worker_factory, collector_factory):  # noqa: F811
    require_chromium()
    root = tmp_path / "shop"
    root.mkdir()
    server, origin = serve_shop(root)
    try:
        key, _ = create_key(settings, kafka, "shop-a", Role.WRITE, origins=(origin,))
        collector = collector_factory()
        worker_factory(SHOPSTREAM_SINK_ENABLED="false", SHOPSTREAM_LIVE_ENABLED="false").start()
        values = {"key": key, "host": collector.url}
        values["snippet_fast"] = SNIPPET % {**values, "interval": 200}
        # on these pages nothing is sent before the shopper leaves: only the pagehide beacon
        values["snippet_slow"] = SNIPPET % {**values, "interval": 600_000}
        for name, page in PAGES.items():
            (root / name).write_text(page % values)

        with Chromium(f"{origin}/index.html") as page:
            js = page.evaluate
            ready = "!!(window.shopstream && window.shopstream.ready)"

            def at(path: str) -> None:
                wait_for(lambda: js(f"location.pathname === '/{path}' && {ready}"), 60,
                         f"the SDK on {path}")

            at("index.html")
            wait_for(lambda: js("window.shopstream.sent") == 2, 60,
                     "the home page's two events acknowledged after the failed tries")
            assert js("failures") == 2 and js("window.shopstream.retries") >= 2
            js("document.getElementById('next').click()")
            at("product.html")
            js("document.getElementById('add').click()")
            js("document.getElementById('next').click()")
            at("cart.html")
            js("document.getElementById('login').click()")
            js("document.getElementById('order').click()")
            js("document.getElementById('next').click()")
            at("thanks.html")
            wait_for(lambda: js("window.shopstream.sent") == 1, 60, "the last page's event")

            def landed() -> int:
                return len(read_topic(kafka, settings.topics.events))

            wait_for(lambda: landed() >= sum(EXPECTED.values()), 120,
                     "every event of the visit in shop.events")
            wait_until_stable(landed, 60, "shop.events")
        events = [orjson.loads(r.value) for r in read_topic(kafka, settings.topics.events)]
        names = Counter(e["event"] if e["type"] == "track" else e["type"] for e in events)
        assert names == EXPECTED
        assert len({e["messageId"] for e in events}) == len(events)  # once each
        assert read_topic(kafka, settings.topics.dlq) == []
        assert {e["tenant"] for e in events} == {"shop-a"}
        assert len({e["anonymousId"] for e in events}) == 1  # kept across pages
        assert len({e["context"]["sessionId"] for e in events}) == 1
        # stamped by the collector, truncated to its /24 by the validation stage (the default)
        assert all(e["context"]["ip"] == "127.0.0.0" for e in events)
        by_name = {e.get("event") or e["type"]: e for e in events}
        assert by_name["identify"]["traits"] == {"email": "ada@example.com"}
        assert by_name["Order Completed"]["userId"] == "user-1"
        assert "userId" not in by_name["Product Added"]
        assert by_name["Product Added"]["properties"]["cart_id"] == "cart-1"
        assert by_name["Order Completed"]["properties"]["total"] == 59.9
        assert by_name["Products Searched"]["context"]["page"]["path"] == "/index.html"
    finally:
        server.shutdown()


REFUSED = """<title>%(title)s</title>
<script>window.warnings = []; var warn = console.warn;
console.warn = function (m) { window.warnings.push(String(m)); return warn.apply(console, arguments); };
</script>%(snippet)s
<script src="%(host)s/sdk.js"></script>
<script>shopstream.page(); shopstream.track("Refused Visit");</script>"""


def test_a_revoked_key_or_a_refused_origin_drops_the_events_without_retries(
        settings, kafka, tmp_path, collector_factory):  # noqa: F811
    """The collector's 403 carries CORS headers, so the SDK reads it and drops the batch
    (a 4xx) instead of taking it for a network error and retrying it forever."""
    require_chromium()
    root = tmp_path / "shop"
    root.mkdir()
    server, origin = serve_shop(root)
    try:
        revoked, record = create_key(settings, kafka, "shop-a", Role.WRITE, origins=(origin,))
        write_record(kafka, settings.topics.keys, record.revoke())
        # no key allows the shop's origin: nothing answers it with CORS headers but the fix
        elsewhere, _ = create_key(settings, kafka, "shop-a", Role.WRITE,
                                  origins=("https://elsewhere.example",))
        collector = collector_factory()  # serves once it has read the keys, revocation too
        for name, key in (("revoked", revoked), ("elsewhere", elsewhere)):
            snippet = SNIPPET % {"key": key, "host": collector.url, "interval": 200}
            (root / f"{name}.html").write_text(REFUSED % {"title": name, "snippet": snippet,
                                                          "host": collector.url})
        dropped = {"warnings": ["shopstream: batch refused with 403"], "queued": 0,
                   "sent": 0, "retries": 0}

        with Chromium(f"{origin}/revoked.html") as page:
            def state(path: str) -> dict[str, object] | str:
                return page.evaluate(
                    f"location.pathname !== '/{path}' || !(window.shopstream || {{}}).ready ? "
                    "'loading ' + location.pathname : {warnings: window.warnings, "
                    "queued: (JSON.parse(localStorage.getItem('shopstream_queue')) || []).length, "
                    "sent: window.shopstream.sent, retries: window.shopstream.retries}")

            wait_until_equal(lambda: state("revoked.html"), dropped, 60,
                             "the revoked key's batch dropped, not retried")
            page.evaluate("location.href = '/elsewhere.html'")
            wait_until_equal(lambda: state("elsewhere.html"), dropped, 60,
                             "the batch from an origin the key does not allow dropped")
        assert read_topic(kafka, settings.topics.raw) == []
    finally:
        server.shutdown()
