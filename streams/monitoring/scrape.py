"""Reading a worker's ``/metrics`` page back into numbers (demo console, tests, benchmarks)."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families


def parse_metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``{sample name: {sorted label pairs: value}}``."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return dict(out)


def fetch_metrics(url: str, timeout: float = 2.0) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local URL
        return parse_metrics(response.read().decode())


def total(metrics: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str) -> float:
    """Sum a sample over the label sets that match ``labels``."""
    wanted = set(labels.items())
    return sum(v for k, v in metrics.get(name, {}).items() if wanted <= set(k))


def merge_exposition(texts: list[tuple[str, str | None]]) -> bytes:
    """Several processes' ``/metrics`` pages as one (samples of a family that appears in
    more than one, such as the consumer lag of each process's topics, under one family).
    Each page comes with a ``process`` label for its samples, or None for none."""
    families: dict[str, Any] = {}
    for text, process in texts:
        for family in text_string_to_metric_families(text):
            if process is not None:
                family.samples = [sample._replace(labels={**sample.labels, "process": process})
                                  for sample in family.samples]
            if family.name in families:
                families[family.name].samples.extend(family.samples)
            else:
                families[family.name] = family

    class Collected:
        def collect(self) -> list[Any]:
            return list(families.values())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collected())
    return generate_latest(registry)
