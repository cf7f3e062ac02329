"""``shopstream demo``: a broker (found or started), the worker, simulated traffic and a
live console view of what flows, until Ctrl-C or ``--duration``; the view shows the latest
Cart Abandoned of a shopper who browsed anonymously and then logged in (one person, with
the email from the login)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import orjson
from rich.console import Console
from rich.live import Live
from rich.table import Table

from deploy.local.broker import terminate_with_parent
from models.settings import Settings
from streams.cli.simulate import send_events
from streams.kafka.admin import ensure_topics
from streams.kafka.discovery import broker_for
from streams.monitoring.scrape import fetch_metrics, total
from streams.sources.simulator import SimConfig, simulate

DEMO_ABANDON_AFTER = "2m"


def _abandon_after_set() -> bool:
    return any(name in os.environ for name in ("CART_ABANDON_AFTER",
                                               "SHOPSTREAM_CART_ABANDON_AFTER_S"))


def _wait_healthy(url: str, worker: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise RuntimeError(f"the worker did not answer {url} within {timeout:.0f}s")


def _traffic(bootstrap: str, settings: Settings, rate: float, seed: int,
             stop: threading.Event) -> None:
    from streams.sdk.tracker import Tracker

    config = SimConfig(seed=seed, rate=rate, start=datetime.now(UTC))
    with Tracker(bootstrap, settings.topics.raw) as tracker:
        for _event in send_events(tracker, simulate(config), rate):
            if stop.is_set():
                break


def stitched_line(triggers: list[dict[str, Any]]) -> str | None:
    """The newest Cart Abandoned (``triggers`` newest first) of a shopper who browsed
    anonymously and then logged in: who, the email the login sent, the anonymous id."""
    for t in triggers:
        traits = t.get("traits") or {}
        if t.get("type") == "cart_abandoned" and t.get("anonymous_id") and traits.get("email"):
            name = f"{traits['name']} " if traits.get("name") else ""
            return (f"{t.get('user_id')} {name}<{traits['email']}>, browsed as "
                    f"{str(t['anonymous_id'])[:8]}... before logging in")
    return None


def _stitched(base: str, key: str | None) -> str | None:
    """:func:`stitched_line` of the worker's recent triggers (None when it cannot say)."""
    request = urllib.request.Request(f"{base}/triggers/recent",
                                     headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - local URL
            return stitched_line(orjson.loads(response.read()))
    except (urllib.error.URLError, OSError, orjson.JSONDecodeError):
        return None


def _view(metrics_url: str, stitched: str | None = None) -> Table:
    table = Table(title="live counts (Ctrl-C stops)", expand=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    try:
        m = fetch_metrics(metrics_url)
    except (urllib.error.URLError, OSError) as exc:
        table.add_row("metrics", f"unavailable ({exc})")
        return table
    table.add_row("raw events in", f"{total(m, 'shopstream_events_in_total'):,.0f}")
    for topic_name, value in sorted(m.get("shopstream_events_out_total", {}).items()):
        table.add_row(f"out: {dict(topic_name).get('topic')}", f"{value:,.0f}")
    table.add_row("duplicates dropped", f"{total(m, 'shopstream_events_duplicate_total'):,.0f}")
    for labels, value in sorted(m.get("shopstream_events_rejected_total", {}).items()):
        table.add_row(f"  rejected: {dict(labels).get('code')}", f"{value:,.0f}")
    table.add_row("rows in ClickHouse (events)",
                  f"{total(m, 'shopstream_sink_rows_total', table='events'):,.0f}")
    table.add_row("input not yet handled (lag)", f"{total(m, 'shopstream_consumer_lag'):,.0f}")
    table.add_row("live: revenue, last hour", f"{total(m, 'shopstream_live_revenue', window='1h'):,.2f}")
    table.add_row("live: active shoppers (5 min)", f"{total(m, 'shopstream_live_active_users'):,.0f}")
    table.add_row("live: open carts", f"{total(m, 'shopstream_live_open_carts'):,.0f}")
    for labels, value in sorted(m.get("shopstream_triggers_total", {}).items()):
        table.add_row(f"  trigger: {dict(labels).get('type')}", f"{value:,.0f}")
    table.add_row("one person across a login (last Cart Abandoned)",
                  stitched or "none yet: carts abandon after the quiet time")
    return table


def _settled(metrics_url: str, settings: Settings, timeout: float = 30.0) -> dict | None:
    """The worker's metrics once the traffic stopped and every stage caught up: no input
    left (lag 0), nothing new for two seconds, and ClickHouse holding every canonical event.
    Returns the last metrics seen (caught up or not, after ``timeout``)."""
    deadline = time.monotonic() + timeout
    last: dict | None = None
    previous: tuple[float, float] | None = None
    while time.monotonic() < deadline:
        try:
            m = fetch_metrics(metrics_url)
        except (urllib.error.URLError, OSError):
            return last
        last = m
        canonical = total(m, "shopstream_events_out_total", topic=settings.topics.events)
        written = total(m, "shopstream_sink_rows_total", table="events")
        now = (total(m, "shopstream_events_in_total"), written)
        if now == previous and written >= canonical and total(m, "shopstream_consumer_lag") == 0:
            return m
        previous = now
        time.sleep(2.0)
    return last


def _summary(m: dict | None, settings: Settings) -> None:
    """One plain line at the end, for logs and scripts; the figures add up: raw in =
    canonical + dead letters + duplicates, and rows in ClickHouse = canonical (once the
    sink caught up, which it waits for)."""
    if m is None:
        return
    t = settings.topics
    canonical = total(m, "shopstream_events_out_total", topic=t.events)
    written = total(m, "shopstream_sink_rows_total", table="events")
    pending = "" if written >= canonical else f" ({canonical - written:.0f} not yet written)"
    print(
        "demo summary: "
        f"{total(m, 'shopstream_events_in_total'):.0f} raw events in, "
        f"{total(m, 'shopstream_events_out_total', topic=t.events):.0f} canonical, "
        f"{total(m, 'shopstream_events_out_total', topic=t.dlq):.0f} dead letters, "
        f"{total(m, 'shopstream_events_duplicate_total'):.0f} duplicates dropped, "
        f"{written:.0f} rows in ClickHouse{pending}, "
        f"{total(m, 'shopstream_triggers_total'):.0f} triggers",
        file=sys.stderr, flush=True,
    )


def _print_keys(console: Console, settings: Settings, bootstrap: str, base: str) -> str:
    """Keys of the demo's tenant, one per role (only their hashes are stored); returns the
    read key."""
    from models.keys import Role
    from streams.cli.keys import create_key

    tenant = settings.default_tenant
    made = {role: create_key(settings, bootstrap, tenant, role, note="demo")[0]
            for role in (Role.WRITE, Role.READ, Role.ADMIN)}
    # one line each, never wrapped inside a key: what is printed is copied and pasted
    console.print(f"[bold]keys[/] tenant {tenant}: write {made[Role.WRITE]}  read "
                  f"{made[Role.READ]}  admin {made[Role.ADMIN]}", soft_wrap=True)
    console.print("      send events over HTTP: shopstream collector, then", soft_wrap=True)
    console.print(f"      curl -u '{made[Role.WRITE]}:' localhost:{settings.collector_port}"
                  "/v1/track ...", soft_wrap=True)
    console.print(f"      dashboard with auth on (SHOPSTREAM_AUTH=on): {base}/?key="
                  f"{made[Role.READ]}", soft_wrap=True)
    console.print(f"      CLI: SHOPSTREAM_API_KEY={made[Role.READ]}", soft_wrap=True)
    return made[Role.READ]


def run_demo(settings: Settings, rate: float = 40.0, duration: float | None = None,
             seed: int = 7) -> int:
    console = Console(stderr=True)
    with broker_for(settings, log=console.print) as broker:
        ensure_topics(settings, broker.bootstrap)
        env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap,
               "SHOPSTREAM_WEB_PORT": str(settings.web_port)}
        if not _abandon_after_set():  # so abandoned carts show up within the demo
            env["CART_ABANDON_AFTER"] = DEMO_ABANDON_AFTER
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        worker_log = open(settings.data_dir / "worker.log", "ab")
        # a session of its own: Ctrl-C (sent to the terminal's whole process group) stops the
        # demo, which lets the worker write what it holds before it stops it; SIGTERM when
        # the demo dies, so no worker outlives it
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "worker"], env=env,
            stdout=worker_log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=terminate_with_parent,
        )
        base = f"http://{settings.web_host}:{settings.web_port}"
        stop = threading.Event()
        read_key: str | None = None
        try:
            _wait_healthy(f"{base}/health", worker)
            t = settings.topics
            console.print(f"[bold]Kafka[/] {broker.bootstrap} ({broker.how})")
            console.print(f"[bold]dashboard[/] {base}/   (live funnel, revenue, shoppers, carts, "
                          "trending products, latest triggers)")
            console.print(f"[bold]worker[/] {base}/metrics  {base}/health  {base}/funnel  "
                          f"{base}/trending  {base}/live  (log: {settings.data_dir / 'worker.log'})")
            abandon = os.environ.get("CART_ABANDON_AFTER") or (
                f"{os.environ['SHOPSTREAM_CART_ABANDON_AFTER_S']}s"
                if "SHOPSTREAM_CART_ABANDON_AFTER_S" in os.environ else DEMO_ABANDON_AFTER)
            console.print(f"[bold]triggers[/] carts abandon after {abandon} of quiet here "
                          "(CART_ABANDON_AFTER); in another terminal: "
                          "shopstream triggers tail cart_abandoned")
            console.print(f"[bold]topics[/] {t.raw} -> {t.events} | {t.dlq}")
            console.print(f"[bold]traffic[/] {rate:g} events/s from the simulator (seed {seed}; "
                          f"{SimConfig().anonymous:.0%} of the sessions browse anonymously, "
                          "then log in)")
            console.print(f"[bold]ClickHouse[/] {settings.resolved_clickhouse_url}; in another "
                          "terminal: shopstream report kpis --grain minute")
            read_key = _print_keys(console, settings, broker.bootstrap, base)
            producer = threading.Thread(target=_traffic, daemon=True,
                                        args=(broker.bootstrap, settings, rate, seed, stop))
            producer.start()
            ends = time.monotonic() + duration if duration else float("inf")
            with Live(_view(f"{base}/metrics"), console=console, refresh_per_second=1) as live:
                while time.monotonic() < ends:
                    time.sleep(1.0)
                    live.update(_view(f"{base}/metrics", _stitched(base, read_key)))
        except KeyboardInterrupt:
            console.print("stopping...")
        finally:
            stop.set()
            console.print("traffic stopped; waiting for the worker to write what it holds...")
            _summary(_settled(f"{base}/metrics", settings), settings)
            if stitched := _stitched(base, read_key):
                console.print(f"[bold]one person across a login[/] {stitched}")
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()
            worker_log.close()
    return 0
