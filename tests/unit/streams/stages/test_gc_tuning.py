"""A stage process's collector after start-up: what start-up made is frozen, the young
generation is collected less often."""

from __future__ import annotations

import gc

from streams.stages.gc_tuning import YOUNG_THRESHOLD, settle_after_start_up


def test_start_up_objects_are_frozen_and_young_collections_are_rarer():
    before = gc.get_threshold()
    try:
        settle_after_start_up()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
