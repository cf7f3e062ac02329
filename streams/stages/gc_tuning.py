"""The garbage collector of a long-running stage process, set once start-up is done.

A stage allocates many short-lived containers per event (decoded JSON, validated models,
rows), and with CPython's defaults a young-generation collection runs every 700 of them,
while each full collection walks every object the process holds, start-up's modules, caches
and tables included. So, once start-up is done: everything alive then is moved to a
permanent generation the collector no longer walks (``gc.freeze``), and the young generation
is collected every ``YOUNG_THRESHOLD`` allocations. Reference counting still frees almost
everything at once; only reference cycles wait for a collection.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def settle_after_start_up() -> None:
    """Call once, after the imports and the set-up of a stage process, before its loop runs."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
