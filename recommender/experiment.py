"""A/B tests of recommender versions against ClickHouse: start, stop, and the outcome report
(the online counterpart of the promotion gate). Assignment and figures: ``recommender.ab``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client

from models.ecommerce import EventName as E
from models.errors import ShopstreamError
from models.times import format_time, parse_iso
from recommender.ab import CANDIDATE, outcome_report, variant_of
from recommender.model import TrainedModel
from recommender.registry import Registry
from sinks.schema import sql_names

Progress = Callable[[str], None]
BATCH = 1_000

ENGAGED_SQL = f"""
SELECT user_key,
       groupUniqArrayIf(product_id, event IN ({sql_names(E.PRODUCT_CLICKED, E.PRODUCT_VIEWED)})
                        AND product_id != '')
FROM events
WHERE tenant = {{tenant:String}} AND user_key != ''
  AND event_time >= {{start:DateTime64(3, 'UTC')}} AND event_time < {{end:DateTime64(3, 'UTC')}}
GROUP BY user_key
"""

PURCHASED_SQL = """
SELECT user_key, groupUniqArray(product_id)
FROM order_items
WHERE tenant = {tenant:String} AND user_key != '' AND sign > 0
  AND event_time >= {start:DateTime64(3, 'UTC')} AND event_time < {end:DateTime64(3, 'UTC')}
GROUP BY user_key
"""


def shown_lists(model: TrainedModel | None, fallback: TrainedModel, shoppers: list[str],
                n: int) -> dict[str, list[str]]:
    """What a variant served each shopper: ``model``'s top n for shoppers it knows, else
    the most popular products (by ``fallback``'s data) they had not bought."""
    out: dict[str, list[str]] = {}
    known = [(s, model.user_code(s)) for s in shoppers] if model is not None else []
    codes = [(s, c) for s, c in known if c is not None]
    for start in range(0, len(codes), BATCH):
        chunk = codes[start:start + BATCH]
        assert model is not None
        ids, scores = model.recommend_many(np.asarray([c for _, c in chunk]), n)
        for (shopper, _), row_ids, row_scores in zip(chunk, ids, scores, strict=True):
            out[shopper] = [str(model.item_ids[i]) for i in row_ids[np.isfinite(row_scores)]]
    popularity = fallback.content.popularity if fallback.content is not None else None
    if popularity is not None:
        ranked = [str(fallback.item_ids[i]) for i in np.argsort(-popularity, kind="stable")[:n * 3]]
        for shopper in shoppers:
            if shopper not in out:
                code = fallback.user_code(shopper)
                bought = ({str(fallback.item_ids[i]) for i in fallback.bought(code)}
                          if code is not None and not fallback.repeat else set())
                out[shopper] = [p for p in ranked if p not in bought][:n]
    return out


def report(client: Client, registry: Registry, tenant: str, days: float, n: int,
           progress: Progress) -> dict[str, Any]:
    test = registry.latest_test()
    if test is None:
        raise ShopstreamError(f"no A/B test for tenant {tenant!r} yet: start one with "
                              "`shopstream recommender ab-start VERSION`")
    ab = test.params["ab"]
    start = parse_iso(ab["started_at"])
    end = start + timedelta(days=days)
    if ab.get("stopped_at"):
        end = min(end, parse_iso(ab["stopped_at"]))
    progress(f"A/B test of v{test.version} ({ab['share']:.0%} of shoppers) against "
             f"{'v' + str(ab['control']) if ab['control'] else 'popularity'}: outcomes from "
             f"{format_time(start)} to {format_time(end)}")
    candidate = registry.load(test)
    control = registry.load(registry.get(int(ab["control"]))) if ab["control"] else None
    params = {"tenant": tenant, "start": start, "end": end}
    engaged = {str(u): set(map(str, items)) for u, items in
               client.query(ENGAGED_SQL, parameters=params).result_rows}
    purchased = {str(u): set(map(str, items)) for u, items in
                 client.query(PURCHASED_SQL, parameters=params).result_rows}
    shoppers = sorted(s for s in set(engaged) | set(purchased)
                      if candidate.user_code(s) is not None)
    assigned = {s: variant_of(tenant, test.version, s, float(ab["share"])) for s in shoppers}
    ours = [s for s, v in assigned.items() if v == CANDIDATE]
    theirs = [s for s, v in assigned.items() if v != CANDIDATE]
    shown = {**shown_lists(candidate, candidate, ours, n),
             **shown_lists(control, candidate, theirs, n)}
    figures = outcome_report(assigned, shown, engaged, purchased)
    progress(f"{len(shoppers):,} shoppers known to v{test.version} were active in the window")
    return {"version": test.version, "control": ab["control"] or "popularity",
            "share": ab["share"], "started_at": ab["started_at"],
            "stopped_at": ab.get("stopped_at"), "window": [format_time(start), format_time(end)],
            "top_n": n, **figures}


def start(registry: Registry, version: int, share: float, now: datetime,
          progress: Progress) -> dict[str, Any]:
    record = registry.start_test(version, share, now)
    ab = record.params["ab"]
    progress(f"v{version} is served to {share:.0%} of shoppers (stable hash), "
             f"{'v' + str(ab['control']) if ab['control'] else 'popularity'} to the rest")
    return record.summary()


def stop(registry: Registry, now: datetime, progress: Progress) -> dict[str, Any]:
    record = registry.stop_test(now)
    progress(f"A/B test of v{record.version} stopped; `shopstream recommender ab-report` "
             "shows its outcome")
    return record.summary()
