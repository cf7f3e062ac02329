"""Errors of the statistics: data a model cannot be fitted or judged on."""

from __future__ import annotations

from models.errors import ShopstreamError


class NotEnoughData(ShopstreamError):
    """Too few customers or purchases to fit or evaluate a model; the message says what is
    missing."""


class FitFailed(ShopstreamError):
    """The likelihood optimiser did not converge on this data."""


# the model's shape parameters (unitless) beyond which a fit has run to the edge of the
# model: the data does not pin them down (too few customers, or no one seen to leave)
SHAPE_BOUNDS = (1e-4, 1e4)


def check_shapes(model: str, customers: int, **shapes: float) -> None:
    """FitFailed, saying why, when a fitted shape parameter lies outside :data:`SHAPE_BOUNDS`:
    such a fit gives every customer 0 or 1 and the same value, not a forecast."""
    low, high = SHAPE_BOUNDS
    outside = {name: value for name, value in shapes.items() if not low <= value <= high}
    if outside:
        found = ", ".join(f"{name}={value:.3g}" for name, value in outside.items())
        raise FitFailed(
            f"the {model} fit ran to the edge of the model ({found}) on {customers} "
            "customer(s): the orders do not show how often customers buy and when they stop "
            "(too few customers, or no one seen to leave); nothing was stored")
