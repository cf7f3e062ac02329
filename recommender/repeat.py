"""Repeat purchases (pure): whether a shop's shoppers re-buy, and what the setting makes of it.

The setting (``SHOPSTREAM_RECO_REPEAT``) is ``auto``, ``never`` or ``always`` for every
tenant, or per tenant: ``pets=always,furniture=never,*=auto`` (``*``: the others; unnamed
tenants get ``auto``). When repeat purchases apply, a held-out re-buy counts as relevant in
the evaluation, recommendations may include what the shopper bought, and the buy-again
ranker joins the candidates. ``auto`` applies them when at least :data:`AUTO_RATE` of the
purchases (from :data:`AUTO_MIN_PURCHASES` on) re-buy a product the same shopper bought
before; ``never`` is for durable goods.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from recommender.interactions import PURCHASE, Interactions

MODES = ("auto", "never", "always")
AUTO_RATE = 0.2
AUTO_MIN_PURCHASES = 30


@dataclass(frozen=True)
class RepeatDecision:
    setting: str
    applied: bool
    rate: float       # share of purchases that re-buy a product the shopper bought before
    purchases: int
    reason: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def mode_for(setting: str, tenant: str) -> str:
    """The mode the setting gives ``tenant``; a malformed setting is a ValueError."""
    text = setting.strip()
    if text in MODES:
        return text
    modes: dict[str, str] = {}
    for part in text.split(","):
        name, sep, mode = part.partition("=")
        name, mode = name.strip(), mode.strip()
        if not sep or not name or mode not in MODES:
            raise ValueError(f"SHOPSTREAM_RECO_REPEAT {setting!r}: expected auto, never, always "
                             "or tenant=mode pairs such as 'pets=always,*=never'")
        modes[name] = mode
    return modes.get(tenant, modes.get("*", "auto"))


def repeat_rate(inter: Interactions) -> tuple[float, int]:
    """(share of purchases of a product the same shopper had bought earlier, purchases)."""
    bought = inter.kinds == PURCHASE
    users, items, times = inter.users[bought], inter.items[bought], inter.times[bought]
    if users.size == 0:
        return 0.0, 0
    order = np.lexsort((times, items, users))
    pairs = np.stack([users[order], items[order]])
    again = np.concatenate([[False], (pairs[:, 1:] == pairs[:, :-1]).all(axis=0)])
    return float(again.mean()), int(users.size)


def decide(setting: str, inter: Interactions) -> RepeatDecision:
    rate, purchases = repeat_rate(inter)
    seen = f"{rate:.0%} of {purchases:,} purchases re-buy a product the shopper bought before"
    if setting == "never":
        return RepeatDecision(setting, False, rate, purchases,
                              f"setting never ({seen}): bought products are not recommended")
    if setting == "always":
        return RepeatDecision(setting, True, rate, purchases,
                              f"setting always ({seen}): re-buys count and are recommended")
    if purchases < AUTO_MIN_PURCHASES:
        return RepeatDecision(setting, False, rate, purchases,
                              f"auto: {seen}; fewer than {AUTO_MIN_PURCHASES} purchases to "
                              "tell, so bought products are not recommended")
    applied = rate >= AUTO_RATE
    verdict = ("re-buying is common: re-buys count and are recommended" if applied
               else "re-buying is rare: bought products are not recommended")
    return RepeatDecision(setting, applied, rate, purchases,
                          f"auto: {seen} (threshold {AUTO_RATE:.0%}); {verdict}")
