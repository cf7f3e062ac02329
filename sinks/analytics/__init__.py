"""Analyses that read ClickHouse and hand the numbers to :mod:`sinks.stats`: the customer
lifetime model's training job and its tables, and the experiments report's figures."""
