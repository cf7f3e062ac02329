"""Shopper-product interactions: read from ClickHouse, held as plain numpy arrays.

Bots' events (``is_bot``, from enrichment) are no interactions. A shopper is a person
(``resolved_events``: an anonymous id linked by identify or alias counts as its user). Everything downstream
(matrix, training, evaluation, baselines) works on an :class:`Interactions` value and
never talks to ClickHouse itself. Users and
products are coded 0..n-1 in sorted order of their ids, and a subset keeps the
same codes, so a train/test split shares one index space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from clickhouse_connect.driver.client import Client

from models.ecommerce import EventName as E
from models.times import ms_to_datetime
from sinks.schema import sql_names

VIEW, ADD, PURCHASE, REFUND = 0, 1, 2, 3
KINDS = ("view", "add", "purchase", "refund")
DAY_MS = 86_400_000

INTERACTIONS_SQL = f"""
SELECT user_key, product_id, kind, toInt64(toUnixTimestamp64Milli(event_time)) AS ts
FROM (
    SELECT user_key, product_id, toUInt8(if(event = {sql_names(E.PRODUCT_VIEWED)}, 0, 1)) AS kind, event_time
    FROM resolved_events
    WHERE tenant = {{tenant:String}} AND event IN ({sql_names(E.PRODUCT_VIEWED, E.PRODUCT_ADDED)})
      AND user_key != '' AND product_id != '' AND is_bot = 0
      AND event_time >= {{start:DateTime64(3, 'UTC')}} AND event_time <= {{end:DateTime64(3, 'UTC')}}
    UNION ALL
    SELECT user_key, product_id, toUInt8(if(sign > 0, 2, 3)) AS kind, event_time
    FROM resolved_order_items
    WHERE tenant = {{tenant:String}} AND user_key != '' AND product_id != ''
      AND event_time >= {{start:DateTime64(3, 'UTC')}} AND event_time <= {{end:DateTime64(3, 'UTC')}}
)
"""

# what the cold start knows of a product: its latest category, brand, price, and the
# category id some feeds send besides (or instead of) a category name
ATTRIBUTES_SQL = """
SELECT product_id,
       argMaxIf(toString(category), event_time, category != ''),
       argMaxIf(toString(brand), event_time, brand != ''),
       argMaxIf(toFloat64(price), event_time, price > 0),
       argMaxIf(JSONExtractString(properties, 'category_id'), event_time,
                JSONExtractString(properties, 'category_id') != '')
FROM events
WHERE tenant = {tenant:String} AND product_id != ''
  AND event_time >= {start:DateTime64(3, 'UTC')} AND event_time <= {end:DateTime64(3, 'UTC')}
GROUP BY product_id
"""

SIGNALS = sql_names(E.PRODUCT_VIEWED, E.PRODUCT_ADDED, E.ORDER_COMPLETED)  # what training reads
LATEST_SQL = f"""
SELECT max(event_time) FROM events
WHERE tenant = {{tenant:String}} AND event IN ({SIGNALS})
"""


@dataclass(frozen=True)
class ItemAttributes:
    """Per item code: brand ('' when unknown) and latest price (0 when unknown)."""
    brands: np.ndarray
    prices: np.ndarray


@dataclass(frozen=True)
class Interactions:
    user_ids: np.ndarray       # str, sorted; the code of a user is its index
    item_ids: np.ndarray       # str, sorted
    users: np.ndarray          # int32 user code per interaction
    items: np.ndarray          # int32 item code per interaction
    kinds: np.ndarray          # uint8: VIEW, ADD, PURCHASE, REFUND
    times: np.ndarray          # int64 event time, ms since the epoch
    item_categories: np.ndarray  # str per item code ('' when unknown)
    item_attributes: ItemAttributes | None = field(default=None)  # for the cold start

    @classmethod
    def from_rows(cls, users: Sequence[str] | np.ndarray, items: Sequence[str] | np.ndarray,
                  kinds: Sequence[int] | np.ndarray, times: Sequence[int] | np.ndarray,
                  categories: dict[str, str] | None = None,
                  attributes: dict[str, tuple[str, float]] | None = None) -> Interactions:
        """``attributes``: product id -> (brand, price) where known."""
        user_ids, user_codes = np.unique(np.asarray(users, dtype=object).astype(str),
                                         return_inverse=True)
        item_ids, item_codes = np.unique(np.asarray(items, dtype=object).astype(str),
                                         return_inverse=True)
        categories, attributes = categories or {}, attributes or {}
        return cls(
            user_ids=user_ids, item_ids=item_ids,
            users=user_codes.astype(np.int32), items=item_codes.astype(np.int32),
            kinds=np.asarray(kinds, dtype=np.uint8), times=np.asarray(times, dtype=np.int64),
            item_categories=np.array([categories.get(i, "") for i in item_ids], dtype=object),
            item_attributes=ItemAttributes(
                brands=np.array([attributes.get(i, ("", 0.0))[0] for i in item_ids], dtype=object),
                prices=np.array([attributes.get(i, ("", 0.0))[1] for i in item_ids],
                                dtype=np.float64)),
        )

    def attributes(self) -> ItemAttributes:
        """Brand and price per item code (unknown: '' and 0 when none were read)."""
        if self.item_attributes is not None:
            return self.item_attributes
        return ItemAttributes(np.full(self.n_items, "", dtype=object), np.zeros(self.n_items))

    def __len__(self) -> int:
        return int(self.users.shape[0])

    @property
    def n_users(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    @property
    def start_ms(self) -> int:
        return int(self.times.min()) if len(self) else 0

    @property
    def end_ms(self) -> int:
        return int(self.times.max()) if len(self) else 0

    def subset(self, mask: np.ndarray) -> Interactions:
        """The interactions where ``mask`` holds, in the same index space."""
        return Interactions(self.user_ids, self.item_ids, self.users[mask], self.items[mask],
                            self.kinds[mask], self.times[mask], self.item_categories,
                            self.item_attributes)

    def counts(self) -> dict[str, int]:
        return {KINDS[k]: int((self.kinds == k).sum()) for k in range(len(KINDS))}


def latest_event_time(client: Client, tenant: str) -> datetime | None:
    value = client.query(LATEST_SQL, parameters={"tenant": tenant}).result_rows[0][0]
    if value is None or value.year < 1971:  # max() of no rows is the epoch
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load_interactions(client: Client, tenant: str, days: float,
                      end: datetime | None = None) -> Interactions:
    """The tenant's interactions in the ``days`` before ``end`` (default: its latest event)."""
    end = end or latest_event_time(client, tenant)
    if end is None:
        return Interactions.from_rows([], [], [], [])
    start = ms_to_datetime(int(end.timestamp() * 1000) - int(days * DAY_MS))
    params = {"tenant": tenant, "start": start, "end": end}
    columns = client.query(INTERACTIONS_SQL, parameters=params).result_columns
    if not columns:
        return Interactions.from_rows([], [], [], [])
    categories: dict[str, str] = {}
    attributes: dict[str, tuple[str, float]] = {}
    for product, category, brand, price, category_id in client.query(
            ATTRIBUTES_SQL, parameters=params).result_rows:
        if category or category_id:  # a feed with category ids only: the id is the category
            categories[str(product)] = str(category or category_id)
        attributes[str(product)] = (str(brand), float(price or 0.0))
    users, items, kinds, times = columns
    return Interactions.from_rows(users, items, kinds, times, categories, attributes)
