"""Errors of the ClickHouse side."""

from __future__ import annotations

from models.errors import ShopstreamError


class ClickHouseError(ShopstreamError):
    """ClickHouse refused a statement for a reason retrying will not fix."""


class RowsRefused(ClickHouseError):
    """ClickHouse refused an insert because of the rows themselves (a value a column cannot
    hold, a type it cannot parse): the same rows are refused again, whenever tried.
    ``written``: the tables of the batch written before the refusal (a batch writes its
    tables one after the other)."""

    def __init__(self, message: str, written: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.written = written


class ClickHouseUnavailable(ShopstreamError):
    """ClickHouse could not be reached or is overloaded: back off and retry the same batch."""


class ReadOnlyViolation(ShopstreamError):
    """``shopstream sql`` was given something other than a read-only query."""
