"""Exchange rates in ClickHouse (``fx_rates``, migration 11): written by ``shopstream fx
load``, read back by ``fx list`` and by every report's conversion
(:mod:`sinks.analytics.currency`)."""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client

from models.currency import FxRate

COLUMNS = ["date", "currency", "rate"]
LIST_SQL = """
SELECT date, toString(currency) AS currency, rate FROM fx_rates FINAL
WHERE ({currency:String} = '' OR currency = {currency:String})
ORDER BY currency, date"""


def write_rates(client: Client, rates: Sequence[FxRate]) -> None:
    """One insert of every rate; a rate already there for its date and currency is replaced."""
    if rates:
        client.insert("fx_rates", [[r.day, r.currency, r.rate] for r in rates],
                      column_names=COLUMNS)
