"""One shopper, three devices: anonymous sessions joined to the logged-in person by identify
and alias count as one customer in every per-person figure, on the real ClickHouse engine.

``ana`` browses and orders anonymously on device ``dev-a`` and then identifies; orders
logged in on a second device; orders anonymously on a third device that an alias call
later names. ``bob`` is someone else. ClickHouse resolves when queried, so the events sent
before a link count for the person too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import orjson
import pytest

from models.identity import MAX_LINK_HOPS, follow_links
from models.validation import Rules
from recommender.interactions import load_interactions
from sinks.reports import ReportParams, run_report
from sinks.writer import ClickHouseWriter
from streams.sources.ingest import ingest
from tests.support import ingest_events

NOW = datetime(2026, 5, 1, tzinfo=UTC)
DAY1 = datetime(2026, 3, 1, 10, tzinfo=UTC)
EMAIL = "ana@example.com"


def at(start: datetime, minutes: float) -> str:
    return (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def event(n: int, ts: str, ids: dict[str, str], name: str | None = None, session: str | None = None,
          **props: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"messageId": f"id-{n:03d}", "tenant": "t1", "timestamp": ts, **ids,
                            "type": "track" if name else "page", "properties": props,
                            "context": {"sessionId": session} if session else {}}
    if name:
        body["event"] = name
    return body


def order(n: int, ts: str, ids: dict[str, str], oid: str, pid: str, total: str,
          session: str | None) -> dict[str, Any]:
    return event(n, ts, ids, "Order Completed", session, order_id=oid, total=total,
                 currency="USD", products=[{"product_id": pid, "price": total, "quantity": 1}])


def shop() -> list[dict[str, Any]]:
    anon_a, ana_b, anon_c = {"anonymousId": "dev-a"}, {"userId": "ana", "anonymousId": "dev-b"}, \
        {"anonymousId": "dev-c"}
    day10, day20 = DAY1 + timedelta(days=10), DAY1 + timedelta(days=20)
    return [
        # device a, anonymous: a session with an id, an order, then gap-rule events around a login
        event(1, at(DAY1, 0), anon_a, session="sa"),
        event(2, at(DAY1, 1), anon_a, "Product Viewed", "sa", product_id="p1"),
        event(3, at(DAY1, 2), anon_a, "Product Added", "sa", product_id="p1", price="10",
              quantity=1),
        order(4, at(DAY1, 3), anon_a, "o1", "p1", "10", "sa"),
        event(5, at(DAY1, 40), anon_a, "Product Viewed", None, product_id="p3"),
        {"messageId": "id-006", "tenant": "t1", "timestamp": at(DAY1, 41), "type": "identify",
         "userId": "ana", "anonymousId": "dev-a",
         "traits": {"email": EMAIL, "name": "Ana Lima", "plan": "gold"},
         "context": {"traits": {"email": EMAIL}}},
        event(7, at(DAY1, 42), {"userId": "ana", "anonymousId": "dev-a"}, "Product Viewed", None,
              product_id="p3"),
        # device b, logged in
        event(8, at(day10, 0), ana_b, "Product Viewed", "sb", product_id="p2"),
        order(9, at(day10, 1), ana_b, "o2", "p2", "20", "sb"),
        # device c, anonymous, then named by an alias call
        order(10, at(day20, 0), anon_c, "o3", "p2", "20", "sc"),
        {"messageId": "id-011", "tenant": "t1", "timestamp": at(day20, 5), "type": "alias",
         "previousId": "dev-c", "userId": "ana"},
        # someone else
        event(12, at(DAY1, 5), {"userId": "bob"}, "Product Viewed", "sx", product_id="p1"),
        order(13, at(DAY1, 6), {"userId": "bob"}, "o9", "p1", "10", "sx"),
    ]


@pytest.fixture
def stitched(clickhouse, tmp_path):
    summary, dead = ingest_events(clickhouse, tmp_path, shop(), NOW)
    assert (summary.events, summary.invalid) == (13, 0), dead.read_text()
    return clickhouse


def report(client, name: str, **kw: Any) -> list[dict[str, Any]]:
    return run_report(client, name, ReportParams(tenant="t1", **kw)).records()


def test_links_and_traits_are_stored_and_traits_only_in_users(stitched):
    assert stitched.query("SELECT anonymous_id, user_id FROM identities FINAL "
                          "ORDER BY anonymous_id").result_rows == [("dev-a", "ana"),
                                                                   ("dev-c", "ana")]
    [user] = stitched.query("SELECT user_id, anonymous_id, email, name, traits, first_seen, "
                            "last_seen FROM user_profiles").named_results()
    assert (user["user_id"], user["anonymous_id"], user["email"], user["name"]) == (
        "ana", "dev-a", EMAIL, "Ana Lima")
    assert orjson.loads(user["traits"])["plan"] == "gold"
    # the person's first event was anonymous (device a), the last an alias call on day 20
    assert user["first_seen"].replace(tzinfo=UTC) == DAY1
    assert user["last_seen"].replace(tzinfo=UTC) == DAY1 + timedelta(days=20, minutes=5)
    leaked = stitched.query("SELECT count() FROM events WHERE position(properties, {e:String}) "
                            "OR position(context, {e:String})", parameters={"e": EMAIL})
    assert leaked.result_rows == [(0,)]


def test_customers_rfm_and_cohorts_count_one_person(stitched):
    customers = {r["user_id"]: r for r in report(stitched, "customers")}
    assert set(customers) == {"ana", "bob"}
    assert (customers["ana"]["orders"], customers["ana"]["revenue"]) == (3, D("50"))
    assert customers["ana"]["distinct_products"] == 2
    assert {r["user_id"]: r["frequency"] for r in report(stitched, "rfm")} == {"ana": 3, "bob": 1}
    cohorts = report(stitched, "cohorts")
    assert [(r["months_since"], r["customers"], r["cohort_size"]) for r in cohorts] == [
        (0, 2, 2)]  # ana and bob ordered first in March; every later order is in March too


def test_sessions_are_the_persons(stitched):
    sessions = stitched.query(
        "SELECT session_id, user_key FROM session_summary WHERE tenant = 't1' "
        "ORDER BY started_at, session_id").result_rows
    keys = dict(sessions)
    assert keys["sa"] == keys["sb"] == keys["sc"] == "ana" and keys["sx"] == "bob"
    # device a's session-less events before and after the login are one run of that device
    # (the live funnel's run and id), and the session is the person's; the alias call on
    # device c says who someone is, not what they did: it is no session (a visit) of its own
    first_run = f"gap:dev-a@{int((DAY1 + timedelta(minutes=40)).timestamp() * 1000)}"
    gap = [(s, key) for s, key in sessions if s.startswith("gap:")]
    assert gap == [(first_run, "ana")], sessions
    assert len(sessions) == 5, sessions  # sa, sb, sc, sx and device a's run


def test_recommender_sees_one_shopper(stitched):
    data = load_interactions(stitched, "t1", days=365)
    assert sorted(data.user_ids.tolist()) == ["ana", "bob"]
    ana = data.user_ids.tolist().index("ana")
    assert int((data.users == ana).sum()) == 8  # 4 views (two of them anonymous), 1 add, 3 orders


def test_chains_and_cycles_of_links_resolve_as_the_live_state_resolves_them(clickhouse, tmp_path):
    """Links of several hops (identify, then aliases of the user id), a chain longer than
    the bound, and a cycle: ClickHouse's ``identity_map`` gives what
    :func:`models.identity.follow_links` gives, and the events resolve to it."""
    chain = [("dev-a", "u1"), ("u1", "u2"), ("u2", "u3")]  # identify, then two aliases
    long = [(f"x{n}", f"x{n + 1}") for n in range(MAX_LINK_HOPS + 2)]
    cycle = [("dev-c", "c1"), ("c1", "c2"), ("c2", "c1")]  # the last alias goes back
    calls = []
    for n, (previous, user) in enumerate(chain + long + cycle):
        ids = ({"anonymousId": previous} if n == 0 else {"previousId": previous})
        calls.append({"messageId": f"link-{n:02d}", "tenant": "t1", "timestamp": at(DAY1, n),
                      "type": "identify" if n == 0 else "alias", "userId": user, **ids})
    viewed = [event(100 + n, at(DAY1, 60), {"anonymousId": ident}, "Product Viewed",
                    product_id="p1")
              for n, ident in enumerate(("dev-a", "u1", "x0", "dev-c", "c2", "stranger"))]
    source = tmp_path / "links.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(e) for e in calls + viewed) + b"\n")
    summary = ingest(source, "jsonl", ClickHouseWriter(clickhouse), Rules(),
                     tmp_path / "dead.jsonl", now=lambda: NOW)
    assert summary.invalid == 0, (tmp_path / "dead.jsonl").read_text()

    links = dict(chain + long + cycle)
    mapped = dict(clickhouse.query("SELECT anonymous_id, user_id FROM identity_map "
                                   "WHERE tenant = 't1'").result_rows)
    assert mapped == {ident: follow_links(ident, links.get) for ident in links}
    assert mapped["dev-a"] == "u3" and mapped["x0"] == f"x{MAX_LINK_HOPS}"
    assert mapped["dev-c"] == "c2" and mapped["c1"] == "c2" and mapped["c2"] == "c1"
    people = dict(clickhouse.query(
        "SELECT sent_user_key, user_key FROM resolved_events WHERE tenant = 't1' "
        "AND event = 'Product Viewed'").result_rows)
    assert people == {"dev-a": "u3", "u1": "u3", "x0": f"x{MAX_LINK_HOPS}", "dev-c": "c2",
                      "c2": "c1", "stranger": "stranger"}


def test_kpis_users_count_ids_as_sent_and_resolved_events_count_people(stitched):
    """``report kpis`` reads rollups kept at insert time: its users are the ids as sent
    (dev-a, ana, dev-c, bob); people are counted from ``resolved_events``."""
    [month] = report(stitched, "kpis", grain="month")
    assert (month["users"], month["new_users"]) == (4, 4)
    people = stitched.query(
        "SELECT uniqExact(user_key) FROM resolved_events WHERE tenant = 't1' AND is_bot = 0")
    assert people.result_rows == [(2,)]
