"""Migration 11: exchange rates (``shopstream fx load``; the rules in :mod:`models.currency`).

``rate`` is the value of one unit of ``currency`` in the base currency
(``SHOPSTREAM_FX_BASE_CURRENCY``) on ``date``. One row per date and currency: loading a
rate again replaces it (the latest ``loaded_at`` wins; readers use ``FINAL``), so loading a
file twice changes nothing.
"""

from __future__ import annotations

from sinks.schema.types import TIME

FX_RATES = f"""
CREATE TABLE IF NOT EXISTS fx_rates (
    date       Date,
    currency   LowCardinality(String),
    rate       Decimal(22, 10),
    loaded_at  {TIME} DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (currency, date)
"""

CURRENCY_STATEMENTS = (FX_RATES,)
