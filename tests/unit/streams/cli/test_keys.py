"""``shopstream keys``: a rate that is not a number of events per second is refused before
anything is written (the parser refuses it too: tests/unit/streams/cli/test_command.py)."""

from __future__ import annotations

import pytest

from models.errors import ShopstreamError
from models.keys import Role
from models.settings import load_settings
from streams.cli.keys import create_key


@pytest.mark.parametrize("rate", [float("nan"), float("inf")])
def test_a_rate_that_is_not_finite_is_refused(rate):
    with pytest.raises(ShopstreamError, match="rate must be a finite number > 0"):
        create_key(load_settings(), "127.0.0.1:1", "shop-a", Role.WRITE, rate=rate)
