"""Errors of the statistics: data a model cannot be fitted or judged on."""

from __future__ import annotations

from models.errors import ShopstreamError


class NotEnoughData(ShopstreamError):
    """Too few customers or purchases to fit or evaluate a model; the message says what is
    missing."""


class FitFailed(ShopstreamError):
    """The likelihood optimiser did not converge on this data."""
