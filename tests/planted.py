"""Interactions with planted structure, where the right recommender is known.

- :func:`planted`: groups of shoppers who buy from groups of products. Each user belongs to
  one group and takes ``in_group`` of their interactions from that group's products
  (uniformly), the rest from the whole catalogue by a Zipf-like popularity, so plain
  popularity is a fair but beatable baseline (``in_group=0``: no structure at all, every
  interaction by popularity alone: popularity is the best there is).
- :func:`planted_repeat`: shoppers who re-buy a few staples of their own again and again
  (groceries): buying again is what they do next.
"""

from __future__ import annotations

import numpy as np

from recommender.interactions import ADD, PURCHASE, VIEW, Interactions

DAY_MS = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def planted(groups: int = 8, users_per_group: int = 60, items_per_group: int = 40,
            per_user: int = 30, in_group: float = 0.8, days: float = 30.0,
            seed: int = 1, group_categories: bool = True) -> tuple[Interactions, np.ndarray]:
    """The interactions and each user's group (by user code). ``group_categories``: each
    group's products share a category (else categories are drawn at random, so a content
    model learns nothing from them and only collaborative filtering finds the groups)."""
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
    category = (np.arange(n_items) // items_per_group if group_categories
                else rng.integers(0, groups, n_items))
    inter = Interactions.from_rows([f"u{u:06d}" for u in users], [f"p{i:05d}" for i in items],
                                   kinds, times, {f"p{i:05d}": f"cat{category[i]}"
                                                  for i in range(n_items)})
    return inter, user_group


def planted_repeat(users: int = 300, items: int = 200, staples: int = 4, orders: int = 10,
                   views: int = 10, days: float = 60.0, seed: int = 2) -> Interactions:
    """Each user owns ``staples`` products (drawn by popularity) and places ``orders`` orders
    spread over ``days``, each re-buying one or two of their staples, now and then (one line
    in five) a product of the whole catalogue instead; besides, ``views`` product views by
    popularity. Categories follow the products at random."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / (np.arange(items) + 1) ** 0.8
    popularity /= popularity.sum()
    rows_u, rows_i, rows_k, rows_t = [], [], [], []
    for user in range(users):
        own = rng.choice(items, size=staples, replace=False, p=popularity)
        for t in np.sort(rng.random(orders)) * days * DAY_MS:
            for _ in range(rng.integers(1, 3)):
                item = own[rng.integers(staples)] if rng.random() < 0.8 else rng.choice(
                    items, p=popularity)
                rows_u.append(user), rows_i.append(item), rows_k.append(PURCHASE)
                rows_t.append(START_MS + int(t) + len(rows_t) % 1000)
        for t in rng.random(views) * days * DAY_MS:
            rows_u.append(user), rows_i.append(rng.choice(items, p=popularity))
            rows_k.append(VIEW), rows_t.append(START_MS + int(t))
    category = rng.integers(0, 10, items)
    return Interactions.from_rows([f"u{u:06d}" for u in rows_u], [f"p{i:05d}" for i in rows_i],
                                  rows_k, rows_t, {f"p{i:05d}": f"cat{category[i]}"
                                                   for i in range(items)})


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
