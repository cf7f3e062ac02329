"""Broker discovery: a command's own broker is found by other commands run from the same
directory while it runs, and forgotten when it stops."""

from __future__ import annotations

import os

import pytest

from models.errors import ShopstreamError
from models.settings import load_settings
from streams.kafka.discovery import (
    _registered,
    configured_bootstrap,
    state_file,
    stop_background_broker,
)


def test_a_commands_broker_is_registered_while_it_runs(tmp_path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    assert configured_bootstrap(settings) is None
    with _registered(settings, "127.0.0.1:19092", os.getpid()):
        assert configured_bootstrap(settings) == "127.0.0.1:19092"
        with pytest.raises(ShopstreamError, match="belongs to a running command"):
            stop_background_broker(settings)  # `broker stop` leaves the demo's broker alone
    assert not state_file(settings).exists() and configured_bootstrap(settings) is None
