"""Publishing top-N recommendations for recently active users: to ClickHouse
(``recommendations``) and to Kafka (``shop.recommendations``, compacted, keyed by user)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np
from clickhouse_connect.driver.client import Client

from models.serde import dumps
from models.times import format_time
from recommender.interactions import DAY_MS, Interactions
from recommender.model import TrainedModel

Send = Callable[[str, bytes], None]
COLUMNS = ["tenant", "user_key", "version", "generated_at", "product_ids", "scores"]
BATCH = 1_000


def active_users(inter: Interactions, days: float) -> np.ndarray:
    """User codes with an interaction in the last ``days`` of the data."""
    since = inter.end_ms - int(days * DAY_MS)
    return np.unique(inter.users[inter.times >= since])


def top_n_rows(model: TrainedModel, users: np.ndarray, n: int) -> list[tuple[str, list[str], list[float]]]:
    rows = []
    for start in range(0, users.shape[0], BATCH):
        chunk = users[start:start + BATCH]
        ids, scores = model.recommend_many(chunk, n)
        for user, row_ids, row_scores in zip(chunk.tolist(), ids, scores, strict=True):
            keep = np.isfinite(row_scores)
            rows.append((str(model.user_ids[user]), [str(model.item_ids[i]) for i in row_ids[keep]],
                         [float(s) for s in row_scores[keep]]))
    return rows


def publish(client: Client, send: Send | None, tenant: str, version: int, generated_at: datetime,
            rows: list[tuple[str, list[str], list[float]]]) -> int:
    """Write every row to ClickHouse, and to Kafka when ``send`` is given; returns the count."""
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        client.insert("recommendations",
                      [[tenant, user, version, generated_at, items, scores]
                       for user, items, scores in chunk], column_names=COLUMNS)
    if send is not None:
        for user, items, scores in rows:
            send(user, dumps({
                "type": "recommendations", "tenant": tenant, "user": user, "version": version,
                "generated_at": format_time(generated_at),
                "items": [{"product_id": p, "score": round(s, 6)}
                          for p, s in zip(items, scores, strict=True)],
            }))
    return len(rows)
