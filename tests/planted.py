"""Interactions with planted structure: groups of shoppers who buy from groups of products.

Each user belongs to one group and takes ``in_group`` of their interactions from
that group's products (uniformly), the rest from the whole catalogue by a
Zipf-like popularity, so plain popularity is a fair but beatable baseline.
"""

from __future__ import annotations

import numpy as np

from recommender.interactions import ADD, PURCHASE, VIEW, Interactions

DAY_MS = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def planted(groups: int = 8, users_per_group: int = 60, items_per_group: int = 40,
            per_user: int = 30, in_group: float = 0.8, days: float = 30.0,
            seed: int = 1) -> tuple[Interactions, np.ndarray]:
    """The interactions and each user's group (by user code)."""
    rng = np.random.default_rng(seed)
    n_users, n_items = groups * users_per_group, groups * items_per_group
    user_group = np.repeat(np.arange(groups), users_per_group)
    popularity = 1.0 / (np.arange(n_items) + 1) ** 1.1
    popularity /= popularity.sum()
    rows = n_users * per_user
    users = np.repeat(np.arange(n_users), per_user)
    own = rng.random(rows) < in_group
    group_items = user_group[users] * items_per_group + rng.integers(0, items_per_group, rows)
    items = np.where(own, group_items, rng.choice(n_items, size=rows, p=popularity))
    kinds = rng.choice([VIEW, ADD, PURCHASE], size=rows, p=[0.7, 0.2, 0.1])
    times = START_MS + (rng.random(rows) * days * DAY_MS).astype(np.int64)
    inter = Interactions.from_rows([f"u{u:06d}" for u in users], [f"p{i:05d}" for i in items],
                                   kinds, times, {f"p{i:05d}": f"cat{i // items_per_group}"
                                                  for i in range(n_items)})
    return inter, user_group


def planted_events(inter: Interactions, tenant: str = "default") -> list[dict]:
    """The same interactions as shop events (views, adds, one-line orders) for ClickHouse."""
    names = {VIEW: "Product Viewed", ADD: "Product Added", PURCHASE: "Order Completed"}
    out = []
    for n, (u, i, kind, ts) in enumerate(zip(inter.users.tolist(), inter.items.tolist(),
                                             inter.kinds.tolist(), inter.times.tolist(), strict=True)):
        user, product = str(inter.user_ids[u]), str(inter.item_ids[i])
        line = {"product_id": product, "price": "10.00",
                "category": str(inter.item_categories[i])}
        if kind == PURCHASE:
            props = {"order_id": f"o{n}", "currency": "USD", "subtotal": "10.00", "total": "10.00",
                     "products": [{**line, "quantity": 1, "line_total": "10.00"}]}
        elif kind == ADD:
            props = {**line, "quantity": 1, "cart_id": f"c-{user}"}
        else:
            props = line
        out.append({"type": "track", "event": names[kind], "messageId": f"pl-{n}",
                    "userId": user, "tenant": tenant, "properties": props,
                    "timestamp": f"{np.datetime64(ts, 'ms')}Z",
                    "context": {"sessionId": f"s-{user}-{ts // DAY_MS}"}})
    return out
